package mailauth

import (
	"bytes"
	"strings"
)

// Stamp returns msg with v's Authentication-Results field first, and
// without the fields that claim to come from hostname: a sender may have
// written one to look checked by us, and RFC 8601 section 5 says a border
// server removes them. Other fields are kept byte for byte.
func Stamp(msg []byte, v Verdict, hostname string) []byte {
	out := make([]byte, 0, len(v.Header)+len(msg))
	out = append(out, v.Header...)
	rest := eachField(msg, func(field []byte) bool {
		if !forged(field, hostname) {
			out = append(out, field...)
		}
		return true
	})
	return append(out, rest...)
}

// OwnResults returns the value of the first Authentication-Results field
// of msg whose authserv-id is hostname, the one Stamp wrote (RFC 8601
// section 2.2), unfolded; ok is false when there is none. A forwarder
// copies it into its ARC-Authentication-Results (RFC 8617 section 4.1.1).
func OwnResults(msg []byte, hostname string) (value string, ok bool) {
	eachField(msg, func(field []byte) bool {
		if forged(field, hostname) {
			_, v, _ := bytes.Cut(field, []byte(":"))
			value = strings.Join(strings.Fields(string(v)), " ")
			ok = true
		}
		return !ok
	})
	return value, ok
}

// eachField calls fn with each field of msg's header, its first line and
// the folded lines after it, until fn returns false or the header ends,
// and returns the rest of msg: the blank line and the body, or the field
// fn stopped at and what follows.
func eachField(msg []byte, fn func(field []byte) bool) []byte {
	rest := msg
	for len(rest) > 0 {
		end := 0
		for {
			nl := bytes.IndexByte(rest[end:], '\n')
			if nl < 0 {
				end = len(rest)
				break
			}
			end += nl + 1
			if end >= len(rest) || (rest[end] != ' ' && rest[end] != '\t') {
				break
			}
		}
		field := rest[:end]
		if len(bytes.TrimRight(field, "\r\n")) == 0 {
			// The blank line: the body follows untouched.
			break
		}
		if !fn(field) {
			break
		}
		rest = rest[end:]
	}
	return rest
}

// forged reports whether field is an Authentication-Results field whose
// authserv-id is hostname.
func forged(field []byte, hostname string) bool {
	name, value, ok := bytes.Cut(field, []byte(":"))
	if !ok || !strings.EqualFold(string(bytes.TrimSpace(name)), "Authentication-Results") {
		return false
	}
	id := strings.TrimSpace(string(value))
	// Comments (RFC 5322 section 3.2.2) may precede the authserv-id.
	for strings.HasPrefix(id, "(") {
		depth, i := 0, 0
		for ; i < len(id); i++ {
			if id[i] == '(' {
				depth++
			} else if id[i] == ')' {
				if depth--; depth == 0 {
					break
				}
			}
		}
		id = strings.TrimSpace(id[min(i+1, len(id)):])
	}
	if i := strings.IndexAny(id, "; \t\r\n("); i >= 0 {
		id = id[:i]
	}
	return strings.EqualFold(id, hostname)
}
