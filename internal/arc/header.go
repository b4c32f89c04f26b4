package arc

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// field is one header field as written: its name, and raw, the whole
// field with its folded lines and the CRLF that ends it.
type field struct {
	name string
	raw  string
}

// value returns the field's value: what follows the colon, folding kept,
// without the final CRLF.
func (f field) value() string {
	_, v, _ := strings.Cut(f.raw, ":")
	return strings.TrimSuffix(v, "\r\n")
}

// splitMessage returns msg's header fields in order and its body. Bare LF
// line ends become CRLF first, as the SMTP wire form has them and as the
// signer hashed them (RFC 6376 section 5.3).
func splitMessage(msg []byte) ([]field, []byte, error) {
	msg = fixCRLF(msg)
	var fields []field
	rest := msg
	for len(rest) > 0 {
		if bytes.HasPrefix(rest, []byte("\r\n")) {
			return fields, rest[2:], nil
		}
		if rest[0] == ' ' || rest[0] == '\t' {
			return nil, nil, errors.New("header starts with a continuation line")
		}
		end := 0
		for {
			nl := bytes.Index(rest[end:], []byte("\r\n"))
			if nl < 0 {
				end = len(rest)
				break
			}
			end += nl + 2
			if end >= len(rest) || (rest[end] != ' ' && rest[end] != '\t') {
				break
			}
		}
		raw := string(rest[:end])
		name, _, ok := strings.Cut(raw, ":")
		if !ok || strings.TrimRight(name, " \t") == "" || strings.ContainsAny(strings.TrimRight(name, " \t"), " \t\r\n") {
			return nil, nil, fmt.Errorf("malformed header line %.40q", raw)
		}
		if !strings.HasSuffix(raw, "\r\n") {
			raw += "\r\n"
		}
		fields = append(fields, field{name: strings.TrimRight(name, " \t"), raw: raw})
		rest = rest[end:]
	}
	return fields, nil, nil
}

// fixCRLF turns every bare LF into CRLF.
func fixCRLF(b []byte) []byte {
	if !bytes.Contains(b, []byte("\n")) || bytes.Count(b, []byte("\n")) == bytes.Count(b, []byte("\r\n")) {
		return b
	}
	out := make([]byte, 0, len(b)+bytes.Count(b, []byte("\n")))
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// parseTags parses a tag-list (RFC 6376 section 3.2), the syntax of
// ARC-Seal and ARC-Message-Signature values and of key records. Folding
// whitespace around names and values is dropped; a tag named twice makes
// the list invalid.
func parseTags(s string) (map[string]string, error) {
	tags := map[string]string{}
	for spec := range strings.SplitSeq(s, ";") {
		if strings.Trim(spec, " \t\r\n") == "" {
			continue
		}
		name, value, ok := strings.Cut(spec, "=")
		if !ok {
			return nil, fmt.Errorf("tag %.20q has no value", strings.TrimSpace(spec))
		}
		name = strings.Trim(name, " \t\r\n")
		if !validTagName(name) {
			return nil, fmt.Errorf("invalid tag name %.20q", name)
		}
		if _, dup := tags[name]; dup {
			return nil, fmt.Errorf("tag %s= given twice", name)
		}
		tags[name] = strings.Trim(value, " \t\r\n")
	}
	return tags, nil
}

// validTagName reports whether name is ALPHA *ALNUMPUNC.
func validTagName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !alpha && (i == 0 || (c < '0' || c > '9') && c != '_') {
			return false
		}
	}
	return true
}

// stripWSP removes all whitespace, as base64 values may be folded
// anywhere (RFC 6376 section 3.5, b= and bh=).
func stripWSP(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// stripSignature returns the raw field with the value of its b= tag
// removed, as the signature is computed over the field without it (RFC
// 6376 section 3.7, RFC 8617 section 4.1.3).
func stripSignature(raw string) string {
	colon := strings.IndexByte(raw, ':')
	if colon < 0 {
		return raw
	}
	var b strings.Builder
	b.WriteString(raw[:colon+1])
	specs := strings.Split(raw[colon+1:], ";")
	for i, spec := range specs {
		if i > 0 {
			b.WriteByte(';')
		}
		name, _, ok := strings.Cut(spec, "=")
		if ok && strings.Trim(name, " \t\r\n") == "b" {
			b.WriteString(spec[:len(name)+1])
			if i == len(specs)-1 && strings.HasSuffix(spec, "\r\n") {
				b.WriteString("\r\n")
			}
			continue
		}
		b.WriteString(spec)
	}
	return b.String()
}
