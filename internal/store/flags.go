package store

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidFlag is returned for a flag that is neither a system flag nor a
// valid keyword.
var ErrInvalidFlag = errors.New("invalid flag")

// MaxKeywordLen is the longest keyword, in bytes, that CanonicalFlags
// accepts.
const MaxKeywordLen = 255

// SystemFlags lists the system flags a message can carry, in the order
// stores report them.
var SystemFlags = []string{FlagSeen, FlagAnswered, FlagFlagged, FlagDeleted, FlagDraft}

// flagRecent is the IMAP4rev1 session flag (RFC 3501 section 2.3.2). It is
// never stored and clients cannot set it, so CanonicalFlags drops it.
const flagRecent = `\Recent`

// CanonicalFlags returns flags with system flags in their canonical spelling
// (matched without regard to case) and duplicates removed; keywords keep
// the spelling of their first occurrence and are compared without regard to
// ASCII case. \Recent is dropped: it is not a stored flag. Any other flag
// starting with a backslash, and keywords that are not an IMAP atom
// (RFC 9051 section 9, flag-keyword), give an error wrapping ErrInvalidFlag.
func CanonicalFlags(flags []string) ([]string, error) {
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) {
			if strings.EqualFold(f, flagRecent) {
				continue
			}
			sys, ok := systemFlag(f)
			if !ok {
				return nil, fmt.Errorf("%w: unknown system flag %q", ErrInvalidFlag, f)
			}
			f = sys
		} else if err := validKeyword(f); err != nil {
			return nil, err
		}
		if !HasFlag(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// HasFlag reports whether flags contains f, comparing without regard to
// ASCII case as keywords are compared (system flags are canonical already).
func HasFlag(flags []string, f string) bool {
	for _, g := range flags {
		if strings.EqualFold(g, f) {
			return true
		}
	}
	return false
}

func systemFlag(f string) (string, bool) {
	for _, s := range SystemFlags {
		if strings.EqualFold(f, s) {
			return s, true
		}
	}
	return "", false
}

// validKeyword checks that k is an atom: printable ASCII without
// atom-specials (RFC 9051 section 9).
func validKeyword(k string) error {
	if k == "" || len(k) > MaxKeywordLen {
		return fmt.Errorf("%w: keyword length %d", ErrInvalidFlag, len(k))
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return fmt.Errorf("%w: keyword %q contains %q", ErrInvalidFlag, k, c)
		}
	}
	return nil
}
