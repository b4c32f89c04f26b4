// Package srs implements the Sender Rewriting Scheme as Shevek specified
// it and Mail::SRS (the reference implementation, Debian's srs) and
// libsrs2 do: a server that forwards mail to another domain sends it with
// an envelope sender of its own domain, so that the receiver's SPF check
// (RFC 7208) passes, and that sender encodes the original one, so that a
// bounce finds its way back.
//
//	alice@example.org  ->  SRS0=HHHH=TT=example.org=alice@forwarder.example
//	SRS0=HHHH=TT=example.org=alice@hop1.example
//	                   ->  SRS1=GGGG=hop1.example==HHHH=TT=example.org=alice@forwarder.example
//
// HHHH is the first four characters of the base64 HMAC-SHA1, keyed with
// our secret, of the lower-cased fields that follow it; TT is the day
// the address was made, in two base32 characters (days since the epoch
// modulo 1024). An SRS1 address, made when forwarding an address already
// rewritten, keeps the first forwarder's SRS0 part, so a bounce goes back
// through that forwarder only, not through every hop.
//
// Reverse refuses what we did not make: a hash that does not verify with
// any of our secrets (a forgery: without it anyone could use us to relay
// mail to anyone), a timestamp older than MaxAge (default 21 days, as
// libsrs2), and anything malformed.
//
// Implementation notes:
//   - Written here: the only Go library found, github.com/mileusna/srs, is
//     not served by the Go module proxy this project builds with, and the
//     scheme is a hundred lines. It is checked against Mail::SRS both ways
//     in the tests.
//   - Hashes compare case-sensitively first and then, as Mail::SRS does,
//     case-insensitively: some MTAs lower-case whole addresses.
//   - Secrets rotate: the first one makes hashes, every one verifies.
package srs

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors returned by Reverse; each is wrapped with the reason.
var (
	ErrNotSRS  = errors.New("not an SRS address")
	ErrInvalid = errors.New("malformed SRS address")
	ErrForged  = errors.New("SRS address hash does not verify")
	ErrExpired = errors.New("SRS address has expired")
)

// Tags that start a rewritten local part; the separator after them may
// be '=', '+' or '-' (Mail::SRS accepts all three).
const (
	srs0 = "SRS0"
	srs1 = "SRS1"
	sep  = "="
)

// hashLen is the number of base64 characters of the HMAC kept.
const hashLen = 4

// DefaultMaxAge is how long an address made by Forward reverses.
const DefaultMaxAge = 21 * 24 * time.Hour

// base32 is the timestamp alphabet (RFC 4648 section 6).
const base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// slots is the number of distinct timestamps: two base32 characters.
const slots = 32 * 32

// Rewriter rewrites and reverses addresses with a set of secrets.
type Rewriter struct {
	// Secrets key the hashes: the first makes them, all verify them.
	Secrets [][]byte
	// MaxAge is how long an address reverses; DefaultMaxAge when 0.
	MaxAge time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Forward returns the envelope sender to use when forwarding mail from
// sender through domain. The null sender, and a sender of domain itself,
// are returned as they are.
func (r *Rewriter) Forward(sender, domain string) (string, error) {
	if sender == "" {
		return "", nil
	}
	if len(r.Secrets) == 0 {
		return "", errors.New("srs: no secret")
	}
	user, host, ok := split(sender)
	if !ok {
		return "", fmt.Errorf("srs: sender %q has no domain", sender)
	}
	if strings.EqualFold(host, domain) {
		return sender, nil
	}
	var local string
	switch tag(user) {
	case srs0:
		// Keep the separator that follows the tag: it is hashed.
		rest := user[len(srs0):]
		local = srs1 + sep + r.hash(r.Secrets[0], host, rest) + sep + host + sep + rest
	case srs1:
		h, rest, ok := strings.Cut(user[len(srs1)+1:], sep)
		srsHost, srsUser, ok2 := strings.Cut(rest, sep)
		if !ok || !ok2 || h == "" || srsHost == "" {
			return "", fmt.Errorf("srs: sender %q: %w", sender, ErrInvalid)
		}
		local = srs1 + sep + r.hash(r.Secrets[0], srsHost, srsUser) + sep + srsHost + sep + srsUser
	default:
		ts := timestamp(r.now())
		local = srs0 + sep + r.hash(r.Secrets[0], ts, host, user) + sep + ts + sep + host + sep + user
	}
	return local + "@" + domain, nil
}

// Reverse returns the address a bounce to the SRS address addr goes to:
// the original sender for SRS0, the first forwarder's SRS0 address for
// SRS1. Its domain is not looked at; the caller knows it is ours.
func (r *Rewriter) Reverse(addr string) (string, error) {
	user, _, ok := split(addr)
	if !ok {
		user = addr
	}
	switch tag(user) {
	case srs0:
		f := strings.SplitN(user[len(srs0)+1:], sep, 4)
		if len(f) != 4 || f[0] == "" || f[2] == "" || f[3] == "" {
			return "", fmt.Errorf("srs: %q: %w: want SRS0=HASH=TT=DOMAIN=LOCAL", addr, ErrInvalid)
		}
		h, ts, host, local := f[0], f[1], f[2], f[3]
		if err := r.checkTimestamp(ts); err != nil {
			return "", fmt.Errorf("srs: %q: %w", addr, err)
		}
		if !r.verify(h, ts, host, local) {
			return "", fmt.Errorf("srs: %q: %w", addr, ErrForged)
		}
		return local + "@" + host, nil
	case srs1:
		f := strings.SplitN(user[len(srs1)+1:], sep, 3)
		if len(f) != 3 || f[0] == "" || f[1] == "" || f[2] == "" {
			return "", fmt.Errorf("srs: %q: %w: want SRS1=HASH=HOST=SRS0-PART", addr, ErrInvalid)
		}
		h, host, rest := f[0], f[1], f[2]
		if !r.verify(h, host, rest) {
			return "", fmt.Errorf("srs: %q: %w", addr, ErrForged)
		}
		return srs0 + rest + "@" + host, nil
	}
	return "", fmt.Errorf("srs: %q: %w", addr, ErrNotSRS)
}

// IsSRS reports whether the local part of addr is an SRS one, which only
// Reverse can tell valid or not.
func IsSRS(addr string) bool {
	user, _, ok := split(addr)
	if !ok {
		user = addr
	}
	return tag(user) != ""
}

// split cuts an address at its last '@'.
func split(addr string) (user, host string, ok bool) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", "", false
	}
	return addr[:at], addr[at+1:], true
}

// tag returns SRS0 or SRS1 when user starts with one, any case, and a
// separator; "" otherwise.
func tag(user string) string {
	if len(user) < 5 || !strings.ContainsRune("=+-", rune(user[4])) {
		return ""
	}
	switch t := strings.ToUpper(user[:4]); t {
	case srs0, srs1:
		return t
	}
	return ""
}

func (r *Rewriter) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// hash returns the first hashLen base64 characters of the HMAC-SHA1 of
// the lower-cased fields.
func (r *Rewriter) hash(secret []byte, fields ...string) string {
	m := hmac.New(sha1.New, secret)
	for _, f := range fields {
		m.Write([]byte(strings.ToLower(f)))
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))[:hashLen]
}

// verify reports whether h is the hash of fields under one of the
// secrets.
func (r *Rewriter) verify(h string, fields ...string) bool {
	if len(h) != hashLen {
		return false
	}
	for _, s := range r.Secrets {
		want := r.hash(s, fields...)
		if subtle.ConstantTimeCompare([]byte(h), []byte(want)) == 1 || strings.EqualFold(h, want) {
			return true
		}
	}
	return false
}

// timestamp returns the two base32 characters of t's day.
func timestamp(t time.Time) string {
	day := t.Unix() / 86400
	return string([]byte{base32[(day>>5)&31], base32[day&31]})
}

// checkTimestamp accepts ts from today back to MaxAge; the day count
// wraps every 1024 days, so an address older than that may pass again,
// as with every SRS implementation.
func (r *Rewriter) checkTimestamp(ts string) error {
	if len(ts) != 2 {
		return fmt.Errorf("%w: timestamp %q is not two characters", ErrInvalid, ts)
	}
	var then int64
	for _, c := range strings.ToUpper(ts) {
		i := strings.IndexRune(base32, c)
		if i < 0 {
			return fmt.Errorf("%w: timestamp %q is not base32", ErrInvalid, ts)
		}
		then = then*32 + int64(i)
	}
	maxAge := r.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	now := r.now().Unix() / 86400 % slots
	for now < then {
		now += slots
	}
	if now-then > int64(maxAge/(24*time.Hour)) {
		return fmt.Errorf("%w: made %d days ago", ErrExpired, now-then)
	}
	return nil
}
