// Package arc implements the Authenticated Received Chain (RFC 8617): it
// verifies the chain of ARC sets a message arrives with, and adds a set of
// ours when we pass a message on.
//
// An ARC set is three fields with the same instance i=: the
// ARC-Authentication-Results (AAR) copying the Authentication-Results the
// intermediary wrote, the ARC-Message-Signature (AMS), a DKIM signature
// of the message under another name, and the ARC-Seal (AS), a signature
// over every set so far that says whether the chain the intermediary
// received was valid (cv=).
//
// Implementation notes:
//   - Canonicalization and signing are written here rather than taken
//     from go-msgauth's dkim package: it exports only whole DKIM-Signature
//     signing and verification, with the field name "DKIM-Signature" and
//     the v= tag built in, and neither its canonicalizers nor its key
//     records, so an AMS (no v=, another name, i= instead of a bare
//     signature) or an AS (no body, fields chosen by instance) cannot be
//     made or checked with it. What is here is RFC 6376 sections 3.4
//     (canonicalization), 3.5 (tags), 3.6.1 (key records) and 3.7
//     (hashing), for rsa-sha256 and ed25519-sha256 (RFC 8463).
//   - go-msgauth's authres (v0.7.0) does not write the method name of an
//     ARCResult; callers report arc= as a GenericResult.
//   - The chain is walked newest to oldest and stops at the first
//     failure: a chain is either valid as a whole or not at all
//     (section 5.2). A sender controls how many sets there are and which
//     keys they name, so there are at most 50 sets (section 4.2.1), each
//     key is fetched once and at most 16 per message, and the body is
//     hashed once per canonicalization.
//   - A key that does not exist fails the chain. One that cannot be
//     fetched for a temporary DNS failure makes the result TempError: the
//     chain may well be valid, and a receiver that would let a trusted
//     sealer's chain decide must ask the sender to try again rather than
//     judge by DMARC alone. cv= has no temporary value (section 4.4), so
//     such a chain is not sealed either.
package arc

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Result is a chain validation status (RFC 8617 section 4.4).
type Result string

// Chain validation statuses.
const (
	None Result = "none" // no ARC sets
	Pass Result = "pass" // every set present, every seal and the newest AMS verify
	Fail Result = "fail" // anything else
	// TempError: a key could not be fetched for a temporary DNS failure
	// (the temperror of RFC 8601 section 2.7.1); it is no chain
	// validation status and is never written as cv=.
	TempError Result = "temperror"
)

// MaxInstances is the most ARC sets a message may carry (section 4.2.1).
const MaxInstances = 50

// Field names.
const (
	sealName = "ARC-Seal"
	amsName  = "ARC-Message-Signature"
	aarName  = "ARC-Authentication-Results"
)

// LookupTXT returns the TXT records of a name, like net.Resolver's;
// errors that are a *net.DNSError with IsNotFound mean there is no key.
type LookupTXT func(name string) ([]string, error)

// Verification is the outcome of verifying a message's chain.
type Verification struct {
	Result Result
	// Instances is the number of ARC sets, the highest i=; 0 when their
	// structure is broken.
	Instances int
	// Sealer is the d= of the newest ARC-Seal when the chain passed: the
	// intermediary that handed the message on, vouching for the chain.
	// With TempError it is the d= that seal claims, not yet verified.
	Sealer string
	// OldestPass is the lowest instance whose AMS still verifies when an
	// older one does not (section 5.2 step 5); 0 when every AMS verifies
	// or the chain did not pass.
	OldestPass int
	// Reason says why the chain failed, for logs and the
	// Authentication-Results comment.
	Reason string
}

// set is one ARC set.
type set struct {
	aar, ams, seal field
	amsTags        map[string]string
	sealTags       map[string]string
}

// Verify verifies the ARC chain of msg (RFC 8617 section 5.2).
func Verify(msg []byte, lookup LookupTXT) Verification {
	fields, body, err := splitMessage(msg)
	if err != nil {
		return Verification{Result: Fail, Reason: err.Error()}
	}
	sets, err := collect(fields)
	if err != nil {
		return Verification{Result: Fail, Reason: err.Error()}
	}
	n := len(sets)
	if n == 0 {
		return Verification{Result: None}
	}
	fail := func(format string, args ...any) Verification {
		err := fmt.Errorf(format, args...)
		if errors.Is(err, errTemporary) {
			return Verification{Result: TempError, Instances: n, Sealer: strings.ToLower(sets[n-1].sealTags["d"]), Reason: err.Error()}
		}
		return Verification{Result: Fail, Instances: n, Reason: err.Error()}
	}
	// Step 2: a chain an intermediary already found broken stays broken.
	if sets[n-1].sealTags["cv"] == string(Fail) {
		return fail("ARC-Seal i=%d says cv=fail", n)
	}
	keys := keyCache{lookup: lookup, keys: map[string]keyResult{}, bodies: map[string][]byte{}}
	// Step 4: the newest AMS must verify.
	if err := verifyAMS(fields, body, sets[n-1], &keys); err != nil {
		return fail("ARC-Message-Signature i=%d: %w", n, err)
	}
	// Step 6: every seal, newest first.
	for i := n; i >= 1; i-- {
		if err := verifySeal(sets[:i], &keys); err != nil {
			return fail("ARC-Seal i=%d: %w", i, err)
		}
	}
	// Step 5, optional and done last so that a broken chain costs no
	// more: how far back the message is unchanged.
	oldest := n
	for i := n - 1; i >= 1; i-- {
		if verifyAMS(fields, body, sets[i-1], &keys) != nil {
			break
		}
		oldest = i
	}
	v := Verification{Result: Pass, Instances: n, Sealer: strings.ToLower(sets[n-1].sealTags["d"])}
	if oldest > 1 {
		v.OldestPass = oldest
	}
	return v
}

// collect returns the ARC sets of a header, oldest first, after checking
// their structure (section 5.2 step 3): instances 1 to N, each with
// exactly one field of each kind, i=1 sealed with cv=none and every later
// one with cv=pass.
func collect(fields []field) ([]set, error) {
	byInstance := map[int]*set{}
	highest := 0
	for _, f := range fields {
		var kind int
		switch {
		case strings.EqualFold(f.name, sealName):
			kind = 1
		case strings.EqualFold(f.name, amsName):
			kind = 2
		case strings.EqualFold(f.name, aarName):
			kind = 3
		default:
			continue
		}
		i, tags, err := instance(f, kind != 3)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		s := byInstance[i]
		if s == nil {
			s = &set{}
			byInstance[i] = s
		}
		slot := [...]*field{nil, &s.seal, &s.ams, &s.aar}[kind]
		if slot.raw != "" {
			return nil, fmt.Errorf("two %s fields with i=%d", f.name, i)
		}
		*slot = f
		switch kind {
		case 1:
			s.sealTags = tags
		case 2:
			s.amsTags = tags
		}
		highest = max(highest, i)
	}
	if len(byInstance) != highest {
		return nil, fmt.Errorf("ARC sets up to i=%d, but only %d of them", highest, len(byInstance))
	}
	sets := make([]set, highest)
	for i := 1; i <= highest; i++ {
		s := byInstance[i]
		if s.seal.raw == "" || s.ams.raw == "" || s.aar.raw == "" {
			return nil, fmt.Errorf("ARC set i=%d is incomplete", i)
		}
		want := string(Pass)
		if i == 1 {
			want = string(None)
		}
		if cv := s.sealTags["cv"]; cv != want && !(i == highest && cv == string(Fail)) {
			return nil, fmt.Errorf("ARC-Seal i=%d has cv=%s, want cv=%s", i, cv, want)
		}
		if _, ok := s.sealTags["h"]; ok {
			return nil, fmt.Errorf("ARC-Seal i=%d has an h= tag", i)
		}
		sets[i-1] = *s
	}
	return sets, nil
}

// instance reads the i= of an ARC field. For the AAR it is the first
// thing in the value (section 4.1.1); the AMS and AS are tag-lists whose
// tags are returned.
func instance(f field, tagList bool) (int, map[string]string, error) {
	var raw string
	var tags map[string]string
	if tagList {
		var err error
		if tags, err = parseTags(f.value()); err != nil {
			return 0, nil, err
		}
		var ok bool
		if raw, ok = tags["i"]; !ok {
			return 0, nil, errors.New("no i= tag")
		}
	} else {
		first, _, ok := strings.Cut(f.value(), ";")
		name, value, ok2 := strings.Cut(first, "=")
		if !ok || !ok2 || strings.TrimSpace(name) != "i" {
			return 0, nil, errors.New("does not start with i=")
		}
		raw = strings.TrimSpace(value)
	}
	i, err := strconv.Atoi(raw)
	if err != nil || i < 1 || i > MaxInstances || raw[0] == '+' {
		return 0, nil, fmt.Errorf("instance %.10q is not 1 to %d", raw, MaxInstances)
	}
	return i, tags, nil
}

// verifyAMS verifies an ARC-Message-Signature like a DKIM signature
// (section 5.2 step 4; RFC 6376 section 6.1).
func verifyAMS(fields []field, body []byte, s set, keys *keyCache) error {
	t := s.amsTags
	hc, bc, err := canonicalizations(t["c"])
	if err != nil {
		return err
	}
	signed := strings.Split(t["h"], ":")
	for i, h := range signed {
		signed[i] = strings.ToLower(strings.Trim(h, " \t\r\n"))
	}
	if t["h"] == "" {
		return errors.New("no h= tag")
	}
	// Section 4.1.2: the seal signs the sets; an AMS over one would make
	// its instance depend on later ones.
	if slices.Contains(signed, strings.ToLower(sealName)) {
		return errors.New("h= lists ARC-Seal")
	}
	bh, err := base64.StdEncoding.DecodeString(stripWSP(t["bh"]))
	if err != nil || len(bh) == 0 {
		return errors.New("bh= is not base64")
	}
	l, limited := t["l"]
	sum, ok := keys.bodies[bc+"/"+l]
	if !ok {
		cbody := canonBody(bc, body)
		if limited {
			n, err := strconv.ParseInt(l, 10, 64)
			if err != nil || n < 0 || n > int64(len(cbody)) {
				return fmt.Errorf("l=%.20s does not fit the body", l)
			}
			cbody = cbody[:n]
		}
		s := sha256.Sum256(cbody)
		sum = s[:]
		keys.bodies[bc+"/"+l] = sum
	}
	if !slices.Equal(sum, bh) {
		return errors.New("body hash does not match: the body was changed")
	}
	h := sha256.New()
	for _, raw := range pick(fields, signed) {
		h.Write([]byte(canonHeader(hc, raw)))
	}
	h.Write([]byte(strings.TrimSuffix(canonHeader(hc, stripSignature(s.ams.raw)), "\r\n")))
	return keys.verify(t, h.Sum(nil))
}

// pick returns the fields named in h=, each name taking the bottom-most
// field of that name not yet taken (RFC 6376 section 5.4.2); a name with none left
// signs nothing.
func pick(fields []field, names []string) []string {
	used := make([]bool, len(fields))
	var out []string
	for _, name := range names {
		for i := len(fields) - 1; i >= 0; i-- {
			if !used[i] && strings.EqualFold(fields[i].name, name) {
				used[i] = true
				out = append(out, fields[i].raw)
				break
			}
		}
	}
	return out
}

// verifySeal verifies the ARC-Seal of the newest of sets (section 5.2
// step 6).
func verifySeal(sets []set, keys *keyCache) error {
	return keys.verify(sets[len(sets)-1].sealTags, sealHash(sets, sets[len(sets)-1].seal.raw))
}

// sealHash hashes the ARC sets for the seal of the newest, whose field
// (with or without its b= value) is last (section 5.1.1): every set in
// instance order, AAR, AMS, AS, with relaxed canonicalization; with
// cv=fail only the newest set, as if it were the only one (section
// 5.1.2).
func sealHash(sets []set, last string) []byte {
	if tags, err := parseTags(field{raw: last}.value()); err == nil && tags["cv"] == string(Fail) {
		sets = sets[len(sets)-1:]
	}
	h := sha256.New()
	for i, s := range sets {
		h.Write([]byte(canonHeader(relaxed, s.aar.raw)))
		h.Write([]byte(canonHeader(relaxed, s.ams.raw)))
		if i < len(sets)-1 {
			h.Write([]byte(canonHeader(relaxed, s.seal.raw)))
		}
	}
	h.Write([]byte(strings.TrimSuffix(canonHeader(relaxed, stripSignature(last)), "\r\n")))
	return h.Sum(nil)
}

// canonicalizations parses c= (RFC 6376 section 3.5): header/body,
// simple when absent.
func canonicalizations(c string) (string, string, error) {
	if c == "" {
		return simple, simple, nil
	}
	hc, bc, ok := strings.Cut(strings.ToLower(c), "/")
	if !ok {
		bc = simple
	}
	for _, x := range []string{hc, bc} {
		if x != simple && x != relaxed {
			return "", "", fmt.Errorf("unknown canonicalization %.20q", c)
		}
	}
	return hc, bc, nil
}

// maxKeys bounds the key records fetched for one message: a sender
// chooses the d= and s= of every set, and each is a DNS query.
const maxKeys = 16

// keyCache fetches each key record once per message, and keeps the body
// hashes, one per canonicalization and length, as each costs a pass over
// the body.
type keyCache struct {
	lookup LookupTXT
	keys   map[string]keyResult
	bodies map[string][]byte
}

type keyResult struct {
	key crypto.PublicKey
	err error
}

// verify checks the b= of a signature's tags against hash with the key
// at s=._domainkey.d=.
func (kc *keyCache) verify(tags map[string]string, hash []byte) error {
	sig, err := base64.StdEncoding.DecodeString(stripWSP(tags["b"]))
	if err != nil || len(sig) == 0 {
		return errors.New("b= is not base64")
	}
	d, sel := strings.ToLower(tags["d"]), strings.ToLower(tags["s"])
	if d == "" || sel == "" {
		return errors.New("no d= or s= tag")
	}
	name := sel + "._domainkey." + d
	r, ok := kc.keys[name]
	if !ok && len(kc.keys) >= maxKeys {
		return fmt.Errorf("more than %d keys in one chain", maxKeys)
	}
	if !ok {
		r.key, r.err = kc.fetch(name)
		kc.keys[name] = r
	}
	if r.err != nil {
		return r.err
	}
	switch a := strings.ToLower(tags["a"]); {
	case a == "rsa-sha256":
		pub, ok := r.key.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("a=%s but the key at %s is not RSA", a, name)
		}
		// RFC 8301 section 3.2: keys under 1024 bits are not trusted.
		if pub.N.BitLen() < 1024 {
			return fmt.Errorf("the RSA key at %s has %d bits, under 1024", name, pub.N.BitLen())
		}
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, hash, sig); err != nil {
			return errors.New("signature does not verify")
		}
	case a == "ed25519-sha256":
		pub, ok := r.key.(ed25519.PublicKey)
		if !ok {
			return fmt.Errorf("a=%s but the key at %s is not Ed25519", a, name)
		}
		if !ed25519.Verify(pub, hash, sig) {
			return errors.New("signature does not verify")
		}
	default:
		return fmt.Errorf("unknown algorithm a=%.20s", a)
	}
	return nil
}

// errTemporary marks a key lookup that failed for a temporary DNS
// failure: the key may exist.
var errTemporary = errors.New("temporary DNS failure")

// fetch reads a key record (RFC 6376 section 3.6.1).
func (kc *keyCache) fetch(name string) (crypto.PublicKey, error) {
	txts, err := kc.lookup(name)
	dnsErr := (*net.DNSError)(nil)
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return nil, fmt.Errorf("no key at %s", name)
	case errors.As(err, &dnsErr) && (dnsErr.IsTemporary || dnsErr.IsTimeout):
		return nil, fmt.Errorf("looking up the key at %s: %w: %w", name, errTemporary, err)
	case err != nil:
		return nil, fmt.Errorf("looking up the key at %s: %w", name, err)
	}
	if len(txts) != 1 {
		return nil, fmt.Errorf("%d records at %s, want one key", len(txts), name)
	}
	return parseKey(txts[0])
}

// parseKey parses a key record's text.
func parseKey(txt string) (crypto.PublicKey, error) {
	tags, err := parseTags(txt)
	if err != nil {
		return nil, fmt.Errorf("key record: %w", err)
	}
	if v, ok := tags["v"]; ok && v != "DKIM1" {
		return nil, fmt.Errorf("key record has v=%.10s", v)
	}
	if s, ok := tags["s"]; ok && !slices.ContainsFunc(strings.Split(s, ":"), func(x string) bool {
		x = strings.TrimSpace(x)
		return x == "*" || x == "email"
	}) {
		return nil, errors.New("key record is not for email (s=)")
	}
	p, ok := tags["p"]
	if !ok {
		return nil, errors.New("key record has no p=")
	}
	der, err := base64.StdEncoding.DecodeString(stripWSP(p))
	if err != nil {
		return nil, errors.New("key record's p= is not base64")
	}
	if len(der) == 0 {
		return nil, errors.New("key revoked (empty p=)")
	}
	switch k := strings.ToLower(tags["k"]); k {
	case "", "rsa":
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			// Some records hold a bare PKCS #1 key.
			if rk, err2 := x509.ParsePKCS1PublicKey(der); err2 == nil {
				return rk, nil
			}
			return nil, fmt.Errorf("key record's RSA key: %w", err)
		}
		return pub, nil
	case "ed25519":
		if len(der) != ed25519.PublicKeySize {
			return nil, errors.New("key record's Ed25519 key is not 32 bytes")
		}
		return ed25519.PublicKey(der), nil
	default:
		return nil, fmt.Errorf("key record has unknown k=%.10s", k)
	}
}
