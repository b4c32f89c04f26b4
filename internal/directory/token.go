package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
	"time"

	"casella/internal/store"
)

// Token is an app password: a random secret that logs in to one account
// in place of its password, over every protocol (HTTP Bearer for JMAP,
// the password of IMAP, POP3, SMTP and ManageSieve logins). A user gives
// each device its own token and revokes it alone when the device is lost.
type Token struct {
	ID       string // public: shown by "account token list", part of the token
	Name     string // the owner's label, unique in the account
	Created  time.Time
	LastUsed time.Time // zero: never used
	Expires  time.Time // zero: never
}

// Tokens keeps app passwords. Directories that keep them implement it
// beside Directory, and their Authenticate accepts a token as the
// password of its account. Errors wrap ErrNotFound for an unknown token
// and ErrExists for a name taken.
type Tokens interface {
	// AddToken makes a token for the account and returns its secret,
	// which is stored only as a hash and never shown again.
	AddToken(ctx context.Context, acct store.Account, name string, expires time.Time) (Token, string, error)
	// Tokens lists the account's tokens by creation time.
	Tokens(ctx context.Context, acct store.Account) ([]Token, error)
	// RevokeToken removes the account's token with this id or name; the
	// next login with it fails.
	RevokeToken(ctx context.Context, acct store.Account, idOrName string) error
	// AuthenticateToken returns the account a token logs in to, or
	// ErrBadCredentials for a token that is unknown, revoked or expired.
	AuthenticateToken(ctx context.Context, secret string) (Account, error)
	// TokenState returns the account's token state, a counter that each
	// creation and revocation raises (a use does not), for JMAP's
	// AppPassword state. A revoked token leaves a tombstone.
	TokenState(ctx context.Context, acct store.Account) (int64, error)
	// TokenChanges returns the tokens created or revoked after state
	// since, by ModSeq, each once, and the account's state, read first.
	TokenChanges(ctx context.Context, acct store.Account, since int64) ([]Change, int64, error)
}

// Token format: "cst_", a public id of tokenIDBytes random bytes and a
// secret of tokenSecretBytes random bytes, both in lower-case base32
// without padding, joined by "_": cst_<16 chars>_<52 chars>. The prefix
// lets secret scanners and people recognise it; the id finds the row and
// keys the login throttle without revealing the secret.
const (
	tokenPrefix      = "cst_"
	tokenIDBytes     = 10
	tokenSecretBytes = 32
	MaxTokenName     = 64
)

var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewToken returns a new token's public id, the whole token the user
// keeps, and the hash the directory stores.
func NewToken() (id, token string, hash []byte) {
	b := make([]byte, tokenIDBytes+tokenSecretBytes)
	rand.Read(b) // never fails (crypto/rand)
	id = tokenEncoding.EncodeToString(b[:tokenIDBytes])
	token = tokenPrefix + id + "_" + tokenEncoding.EncodeToString(b[tokenIDBytes:])
	return id, token, HashToken(token)
}

// HashToken returns what the directory stores of a token: its SHA-256.
// A fast hash is right here, unlike for passwords: a token carries 256
// random bits, so no dictionary or brute force can find it from its hash,
// and argon2id's cost, which exists to slow guesses at low-entropy
// passwords, would buy nothing but slower logins. A key (HMAC) would add
// nothing either: the hash already reveals nothing of a secret that
// cannot be guessed.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// ParseToken returns the public id of a string shaped like a token, and
// whether it is one; it does not say whether the token is valid.
func ParseToken(s string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != tokenEncoding.EncodedLen(tokenIDBytes) || len(secret) != tokenEncoding.EncodedLen(tokenSecretBytes) {
		return "", false
	}
	if _, err := tokenEncoding.DecodeString(id); err != nil {
		return "", false
	}
	if _, err := tokenEncoding.DecodeString(secret); err != nil {
		return "", false
	}
	return id, true
}

// CheckTokenName checks the label of a new token.
func CheckTokenName(name string) error {
	if name == "" || len(name) > MaxTokenName {
		return fmt.Errorf("%w: token name must be 1 to %d octets", ErrInvalid, MaxTokenName)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: token name has a control character", ErrInvalid)
		}
	}
	return nil
}
