package message

import (
	"sort"
	"strconv"
	"strings"
)

// maxParams bounds the parameters kept per field, so that a hostile header
// cannot make a part's metadata arbitrarily large.
const maxParams = 64

// parseValueParams splits a Content-Type or Content-Disposition value into
// its lower-cased leading token ("text/plain", "attachment") and its
// parameters (RFC 2045 section 5.1, RFC 2183). Parameter names are
// lower-cased; values are unquoted, RFC 2231 continuations and charsets are
// decoded, and RFC 2047 words inside values (common, though not standard)
// too. Malformed parameters are skipped, never fatal.
func parseValueParams(v string) (string, map[string]string) {
	segs := splitParams(v)
	token := strings.ToLower(strings.TrimSpace(stripComments(segs[0])))
	params := map[string]string{}
	type section struct {
		n       int
		value   string
		encoded bool
	}
	ext := map[string][]section{}
	for _, seg := range segs[1:] {
		name, value, ok := strings.Cut(seg, "=")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		value = unquote(strings.TrimSpace(value))
		if name == "" || len(params)+len(ext) >= maxParams {
			continue
		}
		// RFC 2231 sections 3 and 4: name*N, name*N* and name*.
		if base, rest, star := strings.Cut(name, "*"); star && base != "" {
			encoded := strings.HasSuffix(rest, "*") || rest == ""
			rest = strings.TrimSuffix(rest, "*")
			n := 0
			if rest != "" {
				var err error
				if n, err = strconv.Atoi(rest); err != nil || n < 0 || n > 999 {
					continue
				}
			}
			ext[base] = append(ext[base], section{n, value, encoded})
			continue
		}
		if strings.Contains(value, "=?") {
			value = decodeText(value)
		}
		params[name] = validUTF8(value)
	}
	for name, secs := range ext {
		sort.SliceStable(secs, func(i, j int) bool { return secs[i].n < secs[j].n })
		var raw []byte
		cs := ""
		for i, s := range secs {
			if s.n != i {
				break // a gap ends the value (RFC 2231 section 3)
			}
			val := s.value
			if s.encoded {
				if i == 0 {
					// charset'language'value (RFC 2231 section 4)
					if c, rest, ok := strings.Cut(val, "'"); ok {
						if _, rest, ok := strings.Cut(rest, "'"); ok {
							cs, val = c, rest
						}
					}
				}
				raw = append(raw, percentDecode(val)...)
			} else {
				raw = append(raw, val...)
			}
		}
		params[name] = toUTF8(cs, raw)
	}
	if len(params) == 0 {
		params = nil
	}
	return token, params
}

// splitParams splits v at the semicolons outside quoted strings.
func splitParams(v string) []string {
	var segs []string
	quoted, escaped := false, false
	start := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\' && quoted:
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == ';' && !quoted:
			segs = append(segs, v[start:i])
			start = i + 1
		}
	}
	return append(segs, v[start:])
}

// unquote removes the quotes and backslash escapes of a quoted-string
// (RFC 5322 section 3.2.4); an unterminated one runs to the end. A token is
// returned as it is.
func unquote(v string) string {
	if !strings.HasPrefix(v, `"`) {
		return v
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		c := v[i]
		if c == '"' {
			break
		}
		if c == '\\' && i+1 < len(v) {
			i++
			c = v[i]
		}
		b.WriteByte(c)
	}
	return b.String()
}

// stripComments removes RFC 5322 comments, "(like this)", which some
// mailers put in Content-Type and Content-Transfer-Encoding values.
func stripComments(v string) string {
	if !strings.Contains(v, "(") {
		return v
	}
	var b strings.Builder
	depth := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// percentDecode decodes the %XX escapes of an RFC 2231 extended value;
// invalid escapes are kept literally.
func percentDecode(v string) []byte {
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '%' && i+2 < len(v) && isHex(v[i+1]) && isHex(v[i+2]) {
			b = append(b, unhex(v[i+1])<<4|unhex(v[i+2]))
			i += 2
			continue
		}
		b = append(b, v[i])
	}
	return b
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
