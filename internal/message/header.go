package message

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// field is one header field: its name lower-cased and its raw value, which
// may span folded lines.
type field struct {
	name    string
	rawName string // as written, for JMAP's headers property
	value   []byte
}

// header is a part's header fields in the order they appear.
type header []field

// get returns the unfolded value of the first field named name (lower
// case), trimmed of surrounding white space, or "" when there is none.
func (h header) get(name string) string {
	for _, f := range h {
		if f.name == name {
			return unfold(f.value)
		}
	}
	return ""
}

// parseHeader reads the header that starts at raw[start] and ends at the
// first empty line before end. It returns the fields and the offset of the
// body, just past the empty line. A header without an empty line runs to
// end and the body is empty. Lines that are neither fields nor
// continuations are skipped: a damaged header must not hide the rest.
func parseHeader(raw []byte, start, end int) (header, int) {
	var h header
	var cur *field
	curStart := 0 // offset of cur's value in raw
	pos := start
	for pos < end {
		var line []byte
		next := end
		if i := bytes.IndexByte(raw[pos:end], '\n'); i >= 0 {
			line = raw[pos : pos+i]
			next = pos + i + 1
		} else {
			line = raw[pos:end]
		}
		trimmed := bytes.TrimSuffix(line, []byte("\r"))
		if len(trimmed) == 0 {
			return h, next
		}
		switch {
		case trimmed[0] == ' ' || trimmed[0] == '\t':
			// A continuation line (RFC 5322 section 2.2.3): the value
			// runs on over the raw bytes, folds included.
			if cur != nil {
				cur.value = raw[curStart : pos+len(trimmed)]
			}
		default:
			cur = nil
			colon := bytes.IndexByte(trimmed, ':')
			if colon <= 0 {
				break
			}
			name := bytes.TrimRight(trimmed[:colon], " \t")
			if !validFieldName(name) {
				break
			}
			curStart = pos + colon + 1
			h = append(h, field{name: strings.ToLower(string(name)), rawName: string(name), value: raw[curStart : pos+len(trimmed)]})
			cur = &h[len(h)-1]
		}
		pos = next
	}
	return h, end
}

// validFieldName reports whether name is a field name: printable US-ASCII
// except colon (RFC 5322 section 2.2).
func validFieldName(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// unfold removes the line breaks of a folded value (RFC 5322 section
// 2.2.3) and trims surrounding white space.
func unfold(v []byte) string {
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return string(bytes.Trim(v, " \t"))
	}
	b := make([]byte, 0, len(v))
	for _, c := range v {
		if c != '\r' && c != '\n' {
			b = append(b, c)
		}
	}
	return string(bytes.Trim(b, " \t"))
}

// newWordDecoder returns a decoder of RFC 2047 encoded words in any charset
// that go-message/charset knows.
func newWordDecoder() *mime.WordDecoder {
	return &mime.WordDecoder{CharsetReader: charset.Reader}
}

// decodeText decodes the encoded words of an unstructured value (RFC 2047)
// and makes the result valid UTF-8. Undecodable words are kept as they are.
func decodeText(v string) string {
	if strings.Contains(v, "=?") {
		if d, err := newWordDecoder().DecodeHeader(v); err == nil {
			v = d
		}
	}
	return validUTF8(v)
}

// validUTF8 replaces invalid UTF-8 sequences, for example raw ISO-8859-1
// bytes in a header, with U+FFFD.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// toUTF8 converts b from the named charset to UTF-8. Unknown charsets and
// undecodable bytes degrade to U+FFFD rather than failing.
func toUTF8(cs string, b []byte) string {
	switch strings.ToLower(cs) {
	case "", "us-ascii", "utf-8", "utf8":
		return validUTF8(string(b))
	}
	r, err := charset.Reader(cs, bytes.NewReader(b))
	if err != nil {
		return validUTF8(string(b))
	}
	d, err := io.ReadAll(r)
	if err != nil {
		return validUTF8(string(b))
	}
	return validUTF8(string(d))
}
