// Package dkim signs mail sent from local domains (RFC 6376) with an
// RSA-2048 key and an Ed25519 key side by side (RFC 8463 section 6: a
// receiver that does not know Ed25519 still verifies the RSA signature).
//
// Keys live in the data directory, dkim/DOMAIN/SELECTOR.pem (PKCS #8),
// made by `casella dkim generate`. A domain is signed with its newest key of
// each algorithm, so rotating is generating keys under a new selector,
// publishing their records, and removing the old files once the new
// records are live; the old records stay in DNS a few days more for mail
// still in transit.
//
// The go-msgauth library does the signing; this package chooses keys and
// what to sign.
package dkim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"casella/internal/spool"
)

// Algorithms of the keys Generate makes.
const (
	RSA     = "rsa"
	Ed25519 = "ed25519"
)

// signedHeaders are the fields signed (RFC 6376 section 5.4.1). From,
// Subject, To, Cc and Date are listed twice: a second instance added in
// transit then breaks the signature instead of being shown to the reader
// unsigned (section 8.15, "oversigning").
var signedHeaders = []string{
	"From", "From", "Reply-To", "Subject", "Subject", "Date", "Date", "To", "To", "Cc", "Cc",
	"Message-ID", "In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "List-Id", "List-Unsubscribe",
}

// selectorRE is a DNS label: what a selector may be here.
var selectorRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Key is a signing key of a domain.
type Key struct {
	Domain    string
	Selector  string
	Algorithm string // RSA or Ed25519
	Created   time.Time
	Signer    crypto.Signer
}

// Record returns the TXT record to publish at SELECTOR._domainkey.DOMAIN
// (RFC 6376 section 3.6.1; RFC 8463 section 4.2 for Ed25519, whose p= is
// the raw 32-byte key).
func (k Key) Record() string {
	var p []byte
	switch pub := k.Signer.Public().(type) {
	case ed25519.PublicKey:
		p = pub
	default:
		p, _ = x509.MarshalPKIXPublicKey(pub)
	}
	return fmt.Sprintf("v=DKIM1; k=%s; p=%s", keyType(k.Algorithm), base64.StdEncoding.EncodeToString(p))
}

// RecordName returns the DNS name of the key's record.
func (k Key) RecordName() string { return k.Selector + "._domainkey." + k.Domain }

// ZoneLine returns the record in zone file syntax, its text cut into
// character-strings of at most 255 octets as DNS requires (RFC 1035
// section 3.3.14); receivers join them (RFC 6376 section 3.6.2.2).
func (k Key) ZoneLine() string {
	rec := k.Record()
	var parts []string
	for len(rec) > 255 {
		parts = append(parts, rec[:255])
		rec = rec[255:]
	}
	parts = append(parts, rec)
	return fmt.Sprintf("%s. 3600 IN TXT \"%s\"", k.RecordName(), strings.Join(parts, `" "`))
}

// validDomain reports whether domain can name a directory under the
// keyring: a domain from a message's From field must not climb out of it.
func validDomain(domain string) bool {
	return domain != "" && !strings.ContainsAny(domain, "/\\") && !strings.HasPrefix(domain, ".") && !strings.Contains(domain, "..")
}

func keyType(alg string) string {
	if alg == Ed25519 {
		return "ed25519"
	}
	return "rsa"
}

// Keyring holds the keys of a data directory. It reads the directory at
// each use and keeps parsed keys, so a key generated while the server runs
// signs the next message. It is safe for concurrent use.
type Keyring struct {
	dir string

	mu     sync.Mutex
	parsed map[string]parsedKey // by path
}

type parsedKey struct {
	mod time.Time
	key Key
}

// Open returns the keyring of the directory dir (DATA/dkim), which need
// not exist.
func Open(dir string) *Keyring {
	return &Keyring{dir: dir, parsed: map[string]parsedKey{}}
}

// Generate makes an RSA-2048 and an Ed25519 key for domain, under the
// selectors PREFIX-rsa and PREFIX-ed25519, and returns them.
func (kr *Keyring) Generate(domain, prefix string) ([]Key, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if !validDomain(domain) {
		return nil, fmt.Errorf("dkim: %q is not a domain name", domain)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("dkim: generating an RSA key: %w", err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dkim: generating an Ed25519 key: %w", err)
	}
	dir := filepath.Join(kr.dir, domain)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	var keys []Key
	for _, k := range []struct {
		alg    string
		signer crypto.Signer
	}{{RSA, rsaKey}, {Ed25519, edKey}} {
		sel := prefix + "-" + k.alg
		if !selectorRE.MatchString(sel) {
			return nil, fmt.Errorf("dkim: selector %q is not a DNS label: use lower-case letters, digits and hyphens", sel)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k.signer)
		if err != nil {
			return nil, fmt.Errorf("dkim: %w", err)
		}
		path := filepath.Join(dir, sel+".pem")
		// O_EXCL: a selector names one key forever; reusing it would
		// invalidate mail signed with the old key still in transit.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("dkim: %w; choose another selector with --selector", err)
		}
		err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			return nil, fmt.Errorf("dkim: writing %s: %w", path, err)
		}
		keys = append(keys, Key{Domain: domain, Selector: sel, Algorithm: k.alg, Created: time.Now(), Signer: k.signer})
	}
	return keys, nil
}

// Keys returns domain's keys, newest first; domain "" returns every
// domain's.
func (kr *Keyring) Keys(domain string) ([]Key, error) {
	domains := []string{strings.ToLower(domain)}
	if domain != "" && !validDomain(domains[0]) {
		return nil, nil
	}
	if domain == "" {
		entries, err := os.ReadDir(kr.dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("dkim: %w", err)
		}
		domains = domains[:0]
		for _, e := range entries {
			if e.IsDir() {
				domains = append(domains, e.Name())
			}
		}
	}
	var keys []Key
	for _, d := range domains {
		entries, err := os.ReadDir(filepath.Join(kr.dir, d))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("dkim: %w", err)
		}
		for _, e := range entries {
			sel, ok := strings.CutSuffix(e.Name(), ".pem")
			if !ok || !selectorRE.MatchString(sel) {
				continue
			}
			k, err := kr.load(d, sel, filepath.Join(kr.dir, d, e.Name()))
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
	}
	slices.SortStableFunc(keys, func(a, b Key) int {
		if c := strings.Compare(a.Domain, b.Domain); c != 0 {
			return c
		}
		return b.Created.Compare(a.Created)
	})
	return keys, nil
}

func (kr *Keyring) load(domain, selector, path string) (Key, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Key{}, fmt.Errorf("dkim: %w", err)
	}
	kr.mu.Lock()
	p, ok := kr.parsed[path]
	kr.mu.Unlock()
	if ok && p.mod.Equal(fi.ModTime()) {
		return p.key, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("dkim: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return Key{}, fmt.Errorf("dkim: %s holds no PEM key; remove it or generate another", path)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return Key{}, fmt.Errorf("dkim: %s: %w", path, err)
	}
	k := Key{Domain: domain, Selector: selector, Created: fi.ModTime()}
	switch priv := priv.(type) {
	case *rsa.PrivateKey:
		k.Algorithm, k.Signer = RSA, priv
	case ed25519.PrivateKey:
		k.Algorithm, k.Signer = Ed25519, priv
	default:
		return Key{}, fmt.Errorf("dkim: %s: a %T key; DKIM signs with RSA or Ed25519", path, priv)
	}
	kr.mu.Lock()
	kr.parsed[path] = parsedKey{mod: fi.ModTime(), key: k}
	kr.mu.Unlock()
	return k, nil
}

// NewestRSA returns domain's newest RSA key, the one ARC seals with
// (RFC 8617 section 4.1.3 names rsa-sha256 only); ok is false when the
// domain has none.
func (kr *Keyring) NewestRSA(domain string) (k Key, ok bool, err error) {
	keys, err := kr.Keys(domain)
	for _, k := range keys {
		if k.Algorithm == RSA {
			return k, true, err
		}
	}
	return Key{}, false, err
}

// Sign returns msg with DKIM-Signature fields prepended, one per
// algorithm, made with domain's newest key of each; msg itself when the
// domain has no key.
func (kr *Keyring) Sign(domain string, msg []byte) ([]byte, error) {
	keys, err := kr.Keys(domain)
	if err != nil || len(keys) == 0 {
		return msg, err
	}
	var signers []*dkim.Signer
	var writers []io.Writer
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k.Algorithm] {
			continue
		}
		seen[k.Algorithm] = true
		s, err := dkim.NewSigner(&dkim.SignOptions{
			Domain:                 k.Domain,
			Selector:               k.Selector,
			Signer:                 k.Signer,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             signedHeaders,
		})
		if err != nil {
			return nil, fmt.Errorf("dkim: signing for %s with %s: %w", k.Domain, k.Selector, err)
		}
		signers = append(signers, s)
		writers = append(writers, s)
	}
	if _, err := io.Copy(io.MultiWriter(writers...), bytes.NewReader(msg)); err != nil {
		return nil, fmt.Errorf("dkim: signing: %w", err)
	}
	var out bytes.Buffer
	for _, s := range signers {
		if err := s.Close(); err != nil {
			return nil, fmt.Errorf("dkim: signing: %w", err)
		}
		out.WriteString(s.Signature())
	}
	out.Write(msg)
	return out.Bytes(), nil
}

// Queue is where signed mail goes: the outbound queue (*spool.Spool).
type Queue interface {
	Enqueue(ctx context.Context, env spool.Envelope, data []byte) (string, error)
	EnqueueKeyed(ctx context.Context, key string, env spool.Envelope, data []byte) (id string, dup bool, err error)
	KeyUsed(ctx context.Context, key string, received time.Time) (id string, used bool, err error)
}

// SigningQueue signs submitted mail for the domain of its From field
// before it enters the outbound queue, so that every attempt sends the
// same signed bytes and a retry costs no signature.
type SigningQueue struct {
	Next Queue
	Keys *Keyring
	Log  *slog.Logger
}

// Enqueue signs data when its author's domain has keys and queues it.
func (q SigningQueue) Enqueue(ctx context.Context, env spool.Envelope, data []byte) (string, error) {
	data, err := q.sign(data)
	if err != nil {
		return "", err
	}
	return q.Next.Enqueue(ctx, env, data)
}

// EnqueueKeyed signs as Enqueue does and queues under key
// (spool.Spool.EnqueueKeyed). It signs a duplicate too, in vain: a
// sender that may replay asks KeyUsed first.
func (q SigningQueue) EnqueueKeyed(ctx context.Context, key string, env spool.Envelope, data []byte) (string, bool, error) {
	data, err := q.sign(data)
	if err != nil {
		return "", false, err
	}
	return q.Next.EnqueueKeyed(ctx, key, env, data)
}

// KeyUsed reports whether key was enqueued (spool.Spool.KeyUsed); it
// signs nothing.
func (q SigningQueue) KeyUsed(ctx context.Context, key string, received time.Time) (string, bool, error) {
	return q.Next.KeyUsed(ctx, key, received)
}

func (q SigningQueue) sign(data []byte) ([]byte, error) {
	domain := authorDomain(data)
	if domain == "" {
		return data, nil
	}
	signed, err := q.Keys.Sign(domain, data)
	if err != nil {
		// A broken key file is ours to fix; the sender retries after
		// the 451 this becomes.
		q.Log.Error("dkim: cannot sign; the message is refused with a temporary error", "domain", domain, "err", err)
		return nil, err
	}
	return signed, nil
}

// authorDomain returns the domain of the first address of the From field,
// lower-cased, or "" when there is none to read.
func authorDomain(data []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return ""
	}
	list, err := m.Header.AddressList("From")
	if err != nil || len(list) == 0 {
		return ""
	}
	at := strings.LastIndexByte(list[0].Address, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(list[0].Address[at+1:])
}
