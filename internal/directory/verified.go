package directory

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// Verified checks passwords like CheckPassword and remembers, for a while,
// the logins that passed. A client that logs in again and again (a phone
// polling every few minutes, or ten thousand clients reconnecting at once
// after an outage) then costs one HMAC-SHA256 instead of an argon2id hash
// of 19 MiB each time; Dovecot's auth cache does the same. Wrong passwords
// are never remembered, so guessing stays as slow as argon2id makes it.
//
// The cache holds no password: only HMAC-SHA256(key, stored hash,
// password) with a random key made at start and never written anywhere.
// A changed password has a new stored hash, which misses the cache.
type Verified struct {
	key []byte
	ttl time.Duration
	max int
	now func() time.Time

	mu   sync.Mutex
	seen map[[sha256.Size]byte]time.Time // digest -> expiry
}

// NewVerified returns a Verified that remembers up to max logins for ttl.
func NewVerified(ttl time.Duration, max int) *Verified {
	key := make([]byte, 32)
	rand.Read(key) // never fails (crypto/rand)
	return &Verified{key: key, ttl: ttl, max: max, now: time.Now, seen: map[[sha256.Size]byte]time.Time{}}
}

// Check reports whether password matches encoded, a hash made by
// HashPassword.
func (v *Verified) Check(encoded, password string) bool {
	if len(password) > MaxPasswordSize {
		return false
	}
	m := hmac.New(sha256.New, v.key)
	m.Write([]byte(encoded))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var d [sha256.Size]byte
	m.Sum(d[:0])
	now := v.now()
	v.mu.Lock()
	exp, ok := v.seen[d]
	v.mu.Unlock()
	if ok && now.Before(exp) {
		return true
	}
	if !CheckPassword(encoded, password) {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.seen) >= v.max {
		for k, exp := range v.seen {
			if !now.Before(exp) {
				delete(v.seen, k)
			}
		}
		if len(v.seen) >= v.max {
			clear(v.seen) // all fresh: start over rather than grow
		}
	}
	v.seen[d] = now.Add(v.ttl)
	return true
}
