package store

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Mailbox and server annotations (RFC 5464, IMAP METADATA). The store
// keeps them per account, for a mailbox or for the account itself, and
// enforces the limits below on every write.

// Limits on annotations, for each mailbox and for the account's server
// annotations separately.
const (
	MaxMetadataValue   = 64 << 10 // bytes of one value
	MaxMetadataEntries = 100      // entries of one mailbox, or of the server
	MaxMetadataName    = 255      // bytes of an entry name
	// MaxMetadataBytes bounds the values of all of an account's
	// annotations together, however many mailboxes it has.
	MaxMetadataBytes = 16 << 20
)

// Errors of SetMetadata.
var (
	ErrMetadataTooLarge = errors.New("annotation value too large")
	ErrMetadataTooMany  = errors.New("too many annotations")
	ErrMetadataName     = errors.New("invalid annotation name")
	ErrMetadataQuota    = errors.New("annotations of the account too large")
)

// MetadataEntry is one annotation: a name such as /private/comment and
// its value. A nil Value in SetMetadata removes the entry.
type MetadataEntry struct {
	Name  string
	Value []byte
}

// CanonicalMetadataName checks an entry name (RFC 5464 section 3.2) and
// returns it in lower case, the form the store keeps: names compare
// without regard to case. A name is UTF-8 and starts with /private/ or /shared/,
// has no empty, "*" or "%" component, no control characters, and does not
// end with "/".
func CanonicalMetadataName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: not UTF-8", ErrMetadataName)
	}
	lower := strings.ToLower(name)
	if len(lower) > MaxMetadataName {
		return "", fmt.Errorf("%w: %d bytes", ErrMetadataName, len(lower))
	}
	rest, ok := strings.CutPrefix(lower, "/private/")
	if !ok {
		rest, ok = strings.CutPrefix(lower, "/shared/")
	}
	if !ok || rest == "" {
		return "", fmt.Errorf("%w: %q is not below /private or /shared", ErrMetadataName, name)
	}
	for _, part := range strings.Split(rest, "/") {
		if part == "" {
			return "", fmt.Errorf("%w: %q has an empty component", ErrMetadataName, name)
		}
	}
	for i := 0; i < len(lower); i++ {
		if c := lower[i]; c < 0x20 || c == 0x7f || c == '*' || c == '%' {
			return "", fmt.Errorf("%w: %q contains %q", ErrMetadataName, name, c)
		}
	}
	return lower, nil
}
