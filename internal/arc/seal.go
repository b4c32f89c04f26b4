package arc

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// amsHeaders are the fields an AMS signs when present: those a reader
// sees and those that say how to read the body, as for DKIM (RFC 6376
// section 5.4.1), plus the DKIM signatures and the AAR of the set, so a
// later intermediary can tell what was signed when.
var amsHeaders = []string{
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "List-Id", "List-Unsubscribe",
	"DKIM-Signature", "ARC-Authentication-Results",
}

// ErrNotSealable is returned by Seal for a message whose chain must not
// be extended: its newest seal already says cv=fail, it holds the most
// sets allowed (RFC 8617 section 5.1, steps 1 and 2), or its ARC fields
// cannot be read.
var ErrNotSealable = errors.New("arc: chain cannot take another set")

// Sealer adds ARC sets in the name of a domain, signing with an RSA key
// published at Selector._domainkey.Domain.
type Sealer struct {
	Domain   string
	Selector string
	Key      crypto.Signer // *rsa.PrivateKey: RFC 8617 section 4.1.3 names rsa-sha256
	// Now gives the t= time; time.Now when nil.
	Now func() time.Time
}

// Seal returns msg with a new ARC set first (RFC 8617 section 5.1).
// authResults is the value of the Authentication-Results field we wrote
// for the message (authserv-id and results, without the field name), and
// chain the verification of msg's chain, whose result becomes cv=.
func (s *Sealer) Seal(msg []byte, authResults string, chain Verification) ([]byte, error) {
	if _, ok := s.Key.(*rsa.PrivateKey); !ok {
		return nil, fmt.Errorf("arc: sealing needs an RSA key, not %T", s.Key)
	}
	fields, body, err := splitMessage(msg)
	if err != nil {
		return nil, fmt.Errorf("arc: %w", err)
	}
	sets, err := collect(fields)
	switch {
	case err != nil:
		// Without a readable chain there is no instance number to take.
		return nil, fmt.Errorf("%w: %v", ErrNotSealable, err)
	case len(sets) > 0 && sets[len(sets)-1].sealTags["cv"] == string(Fail):
		return nil, ErrNotSealable
	case chain.Result == TempError:
		// cv= says pass or fail, and neither is known yet.
		return nil, fmt.Errorf("arc: the chain could not be verified, seal it later: %s", chain.Reason)
	case len(sets) != chain.Instances:
		return nil, fmt.Errorf("arc: the message has %d ARC sets, the verification given %d", len(sets), chain.Instances)
	}
	cv := chain.Result
	n := chain.Instances + 1
	if n > MaxInstances {
		return nil, ErrNotSealable
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	t := strconv.FormatInt(now().Unix(), 10)

	aar := fmt.Sprintf("%s: i=%d; %s\r\n", aarName, n, strings.TrimSpace(strings.TrimSuffix(authResults, "\r\n")))
	// The AMS signs the new AAR, which goes above every field there is.
	fields = append([]field{{name: aarName, raw: aar}}, fields...)
	var names []string
	for _, name := range amsHeaders {
		for _, f := range fields {
			if strings.EqualFold(f.name, name) {
				names = append(names, strings.ToLower(name))
			}
		}
	}
	bh := sha256.Sum256(canonBody(relaxed, body))
	amsHead := fmt.Sprintf("%s: i=%d; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=%s; t=%s;\r\n\th=%s;\r\n\tbh=%s; b=",
		amsName, n, s.Domain, s.Selector, t, strings.Join(names, ":"), base64.StdEncoding.EncodeToString(bh[:]))
	h := sha256.New()
	for _, raw := range pick(fields, names) {
		h.Write([]byte(canonHeader(relaxed, raw)))
	}
	h.Write([]byte(strings.TrimSuffix(canonHeader(relaxed, amsHead), "\r\n")))
	ams, err := s.finish(amsHead, h.Sum(nil))
	if err != nil {
		return nil, err
	}

	sealHead := fmt.Sprintf("%s: i=%d; a=rsa-sha256; cv=%s; d=%s; s=%s; t=%s; b=", sealName, n, cv, s.Domain, s.Selector, t)
	sets = append(sets, set{aar: field{name: aarName, raw: aar}, ams: field{name: amsName, raw: ams}})
	seal, err := s.finish(sealHead, sealHash(sets, sealHead))
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(seal)+len(ams)+len(aar)+len(msg))
	out = append(out, seal...)
	out = append(out, ams...)
	out = append(out, aar...)
	return append(out, msg...), nil
}

// finish signs hash and returns head with the signature, folded, and
// CRLF.
func (s *Sealer) finish(head string, hash []byte) (string, error) {
	sig, err := s.Key.Sign(rand.Reader, hash, crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("arc: signing: %w", err)
	}
	b64 := base64.StdEncoding.EncodeToString(sig)
	var b strings.Builder
	b.WriteString(head)
	for len(b64) > 0 {
		n := min(len(b64), 72)
		b.WriteString("\r\n\t ")
		b.WriteString(b64[:n])
		b64 = b64[n:]
	}
	b.WriteString("\r\n")
	return b.String(), nil
}
