package sqlstore

import (
	"strings"

	"casella/internal/store"
)

// System flags as bits of messages.flags, in the order of store.SystemFlags.
const (
	flagSeen = 1 << iota
	flagAnswered
	flagFlagged
	flagDeleted
	flagDraft
)

// encodeFlags splits canonical flags into the system flag bitmask and the
// keywords column.
func encodeFlags(flags []string) (bits int, keywords []string) {
	for _, f := range flags {
		if i := systemIndex(f); i >= 0 {
			bits |= 1 << i
		} else {
			keywords = append(keywords, f)
		}
	}
	return bits, keywords
}

func systemIndex(f string) int {
	for i, s := range store.SystemFlags {
		if f == s {
			return i
		}
	}
	return -1
}

// decodeFlags returns the flags of a message: system flags first, in the
// order of store.SystemFlags, then keywords as stored.
func decodeFlags(bits int, keywords string) []string {
	l := make([]string, 0, 2)
	for i, s := range store.SystemFlags {
		if bits&(1<<i) != 0 {
			l = append(l, s)
		}
	}
	if keywords != "" {
		l = append(l, strings.Fields(keywords)...)
	}
	return l
}

// applyFlags computes a message's flags after an update with canonical
// flags. Keywords compare without regard to ASCII case; a keyword already
// present keeps its spelling. changed reports whether anything differs.
func applyFlags(op store.FlagOp, bits int, keywords string, upBits int, upKeywords []string) (newBits int, newKeywords string, changed bool) {
	cur := strings.Fields(keywords)
	var next []string
	switch op {
	case store.FlagsAdd:
		newBits = bits | upBits
		next = cur
		for _, k := range upKeywords {
			if !store.HasFlag(next, k) {
				next = append(next, k)
			}
		}
	case store.FlagsRemove:
		newBits = bits &^ upBits
		for _, k := range cur {
			if !store.HasFlag(upKeywords, k) {
				next = append(next, k)
			}
		}
	default:
		newBits = upBits
		next = upKeywords
		if len(next) == len(cur) && containsAll(next, cur) {
			next = cur
		}
	}
	newKeywords = strings.Join(next, " ")
	return newBits, newKeywords, newBits != bits || newKeywords != keywords
}

func containsAll(l, of []string) bool {
	for _, k := range of {
		if !store.HasFlag(l, k) {
			return false
		}
	}
	return true
}
