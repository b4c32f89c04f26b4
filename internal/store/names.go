package store

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxNameLen is the longest mailbox name, in bytes, that ValidName accepts.
const MaxNameLen = 1000

// ValidName reports whether name can name a mailbox, returning an error
// wrapping ErrInvalidName when it cannot. A name is valid UTF-8 without
// control characters, has no empty level (no leading, trailing or doubled
// Separator), and does not contain the LIST wildcards "*" and "%"
// (RFC 9051 section 6.3.9), which would make it impossible to list alone.
func ValidName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrInvalidName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidName, MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidName)
	case strings.HasPrefix(name, Separator) || strings.HasSuffix(name, Separator):
		return fmt.Errorf("%w: %q starts or ends with %q", ErrInvalidName, name, Separator)
	case strings.Contains(name, Separator+Separator):
		return fmt.Errorf("%w: %q has an empty level", ErrInvalidName, name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: %q contains a control character", ErrInvalidName, name)
		}
		if r == '*' || r == '%' {
			return fmt.Errorf("%w: %q contains a LIST wildcard", ErrInvalidName, name)
		}
	}
	return nil
}

// CanonicalName validates name and returns its canonical spelling: INBOX
// in any case, alone or as the first level, is spelled "INBOX", because
// INBOX is case-insensitive (RFC 9051 section 5.1) and "inbox/x" must not
// coexist with "INBOX/x". Every other level is case-sensitive.
func CanonicalName(name string) (string, error) {
	if err := ValidName(name); err != nil {
		return "", err
	}
	first, rest, found := strings.Cut(name, Separator)
	if strings.EqualFold(first, Inbox) && first != Inbox {
		if found {
			return Inbox + Separator + rest, nil
		}
		return Inbox, nil
	}
	return name, nil
}

// Parents returns the names of the ancestors of the canonical name, the
// outermost first: "a/b/c" has parents "a" and "a/b".
func Parents(name string) []string {
	var l []string
	for i := 0; i < len(name); i++ {
		if strings.HasPrefix(name[i:], Separator) {
			l = append(l, name[:i])
		}
	}
	return l
}
