package directory

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters for new hashes: OWASP's minimum recommendation
// (19 MiB of memory, 2 passes, 1 lane), a 16-byte random salt and a 32-byte
// key.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	saltLength   = 16
	keyLength    = 32
)

// Bounds on parameters read from stored hashes, which come from disk and
// are treated as hostile: a corrupt hash must not make a login allocate
// gigabytes or spin for minutes.
const (
	maxArgonMemory  = 1 << 20 // KiB, 1 GiB
	maxArgonTime    = 16
	maxSaltLength   = 64
	maxKeyLength    = 64
	minKeyLength    = 16
	MaxPasswordSize = 1024 // octets; longer passwords are refused
)

// DummyHash is a valid hash of a random password nobody knows.
// Implementations check the password of a login for an unknown address
// against it, so that the answer takes as long as for a known address with
// a wrong password and does not reveal which addresses exist.
const DummyHash = "$argon2id$v=19$m=19456,t=2,p=1$ZtpTBRhur7ovYTNtKDkUag$4HmymyX3t0YgkLqx9LQCtPjd1Yrfp3PwRDyrvX4kSaw"

// HashPassword returns the argon2id hash of password in PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, with unpadded standard
// base64 as the PHC format specifies.
func HashPassword(password string) (string, error) {
	if password == "" {
		return "", fmt.Errorf("hash password: %w: empty password", ErrInvalid)
	}
	if len(password) > MaxPasswordSize {
		return "", fmt.Errorf("hash password: %w: longer than %d octets", ErrInvalid, MaxPasswordSize)
	}
	salt := make([]byte, saltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: reading random salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, keyLength)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var b64 = base64.RawStdEncoding

// CheckPassword reports whether password matches encoded, a hash made by
// HashPassword. A malformed hash matches no password. The comparison of the
// derived keys takes constant time.
func CheckPassword(encoded, password string) bool {
	h, err := parseHash(encoded)
	if err != nil || len(password) > MaxPasswordSize {
		return false
	}
	key := argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

// argonHash is a parsed PHC string.
type argonHash struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

// parseHash parses an argon2id PHC string, checking every parameter
// against the bounds above.
func parseHash(s string) (argonHash, error) {
	var h argonHash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return h, fmt.Errorf("not an argon2id PHC string")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return h, fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return h, fmt.Errorf("want parameters m, t and p, got %q", parts[3])
	}
	m, err := param(params[0], "m=", 8, maxArgonMemory)
	if err != nil {
		return h, err
	}
	t, err := param(params[1], "t=", 1, maxArgonTime)
	if err != nil {
		return h, err
	}
	p, err := param(params[2], "p=", 1, 255)
	if err != nil {
		return h, err
	}
	// Argon2 needs at least 8 KiB of memory per lane.
	if m < 8*p {
		return h, fmt.Errorf("memory %d KiB too small for %d lanes", m, p)
	}
	h.memory, h.time, h.threads = m, t, uint8(p)
	if h.salt, err = b64.DecodeString(parts[4]); err != nil || len(h.salt) < 8 || len(h.salt) > maxSaltLength {
		return h, fmt.Errorf("bad salt")
	}
	if h.key, err = b64.DecodeString(parts[5]); err != nil || len(h.key) < minKeyLength || len(h.key) > maxKeyLength {
		return h, fmt.Errorf("bad key")
	}
	return h, nil
}

// param parses "name=value" with value a decimal in [lo, hi].
func param(s, prefix string, lo, hi uint32) (uint32, error) {
	v, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return 0, fmt.Errorf("want parameter %s, got %q", prefix, s)
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || uint32(n) < lo || uint32(n) > hi {
		return 0, fmt.Errorf("parameter %s%s out of range [%d, %d]", prefix, v, lo, hi)
	}
	return uint32(n), nil
}
