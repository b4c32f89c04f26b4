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
	rest := msg
	for len(rest) > 0 {
		// One field: its first line and the folded lines after it.
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
		if !forged(field, hostname) {
			out = append(out, field...)
		}
		rest = rest[end:]
	}
	return append(out, rest...)
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
