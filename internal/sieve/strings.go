package sieve

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeEncoded replaces "${hex:..}" and "${unicode:..}" (RFC 5228 section
// 2.4.2.4). A malformed one is kept as written, as the RFC asks.
func decodeEncoded(s string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		rest := s[i+2:]
		end := strings.IndexByte(rest, '}')
		colon := strings.IndexByte(rest, ':')
		if end < 0 || colon < 0 || colon > end {
			b.WriteString("${")
			s = rest
			continue
		}
		kind := strings.ToLower(strings.TrimSpace(rest[:colon]))
		out, ok := "", false
		switch kind {
		case "hex":
			out, ok = decodeHex(rest[colon+1 : end])
		case "unicode":
			var err error
			out, ok, err = decodeUnicode(rest[colon+1 : end])
			if err != nil {
				return "", err
			}
		}
		if !ok {
			b.WriteString("${")
			s = rest
			continue
		}
		b.WriteString(out)
		s = rest[end+1:]
	}
}

func decodeHex(v string) (string, bool) {
	var b []byte
	for _, f := range strings.Fields(v) {
		n, err := strconv.ParseUint(f, 16, 8)
		if err != nil || len(f) > 2 {
			return "", false
		}
		b = append(b, byte(n))
	}
	return string(b), true
}

func decodeUnicode(v string) (string, bool, error) {
	var b strings.Builder
	for _, f := range strings.Fields(v) {
		n, err := strconv.ParseUint(f, 16, 32)
		if err != nil || len(f) > 6 {
			return "", false, nil
		}
		// RFC 5228 section 2.4.2.4: a code point that is not a Unicode
		// scalar value is an error.
		if n > utf8.MaxRune || n >= 0xD800 && n <= 0xDFFF {
			return "", false, fmt.Errorf("invalid unicode character %s", f)
		}
		b.WriteRune(rune(n))
	}
	return b.String(), true, nil
}

// validVarName reports whether s is a variable name (RFC 5229 section 3):
// an identifier, or with namespaces dotted identifiers; match variables
// (digits) only when numbers is set.
func validVarName(s string, numbers bool) bool {
	if s == "" {
		return false
	}
	if numbers && isDigits(s) {
		return true
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" || !isIdentStart(part[0]) {
			return false
		}
		for i := 1; i < len(part); i++ {
			if !isIdentChar(part[i]) {
				return false
			}
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// maxVarLen bounds the value of a variable (RFC 5229 section 6 lets an
// implementation truncate).
const maxVarLen = 4000

// expand substitutes variables in s (RFC 5229 section 3): "${name}" and
// "${N}" for match variables; unknown names expand to "".
func (r *run) expand(s string) string {
	if !r.vars || !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			b.WriteString(s[i:])
			break
		}
		name := s[i+2 : i+end]
		if !validVarName(name, true) {
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(r.lookup(name))
		s = s[i+end+1:]
		if b.Len() > maxVarLen {
			break
		}
	}
	out := b.String()
	if len(out) > maxVarLen {
		out = truncUTF8(out, maxVarLen)
	}
	return out
}

func truncUTF8(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func (r *run) lookup(name string) string {
	if isDigits(name) {
		n, err := strconv.Atoi(name)
		if err != nil || n >= len(r.matchVars) {
			return ""
		}
		return r.matchVars[n]
	}
	return r.scope.get(strings.ToLower(name))
}

func (r *run) expandList(l []string) []string {
	if !r.vars {
		return l
	}
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = r.expand(s)
	}
	return out
}

// modify applies the modifiers of set in the order RFC 5229 section 4.1
// gives: :lower/:upper, then :lowerfirst/:upperfirst, :quotewildcard,
// :length.
func modify(n *node, v string) string {
	switch {
	case n.has("lower"):
		v = strings.ToLower(v)
	case n.has("upper"):
		v = strings.ToUpper(v)
	}
	if v != "" {
		r, size := utf8.DecodeRuneInString(v)
		switch {
		case n.has("lowerfirst"):
			v = strings.ToLower(string(r)) + v[size:]
		case n.has("upperfirst"):
			v = strings.ToUpper(string(r)) + v[size:]
		}
	}
	if n.has("quotewildcard") {
		var b strings.Builder
		for _, c := range v {
			if c == '*' || c == '?' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(c)
		}
		v = b.String()
	}
	if n.has("encodeurl") {
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			c := v[i]
			if isIdentChar(c) || strings.IndexByte("-._~", c) >= 0 {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
		v = b.String()
	}
	if n.has("length") {
		v = strconv.Itoa(utf8.RuneCountInString(v))
	}
	return v
}
