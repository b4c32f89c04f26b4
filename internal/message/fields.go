package message

// This file exposes the header fields and address lists to filters (the
// Sieve interpreter reads them by name, RFC 5228 section 5.7), so that
// there is one header and one address parser in the tree.

// Field is one header field: its name lower-cased and its value unfolded
// and trimmed, still raw (encoded words are not decoded).
type Field struct {
	Name  string
	Value string
}

// Header returns the top-level header fields of the message raw in order,
// and the offset at which its body starts.
func Header(raw []byte) ([]Field, int) {
	h, body := parseHeader(raw, 0, len(raw))
	out := make([]Field, len(h))
	for i, f := range h {
		out[i] = Field{Name: f.name, Value: unfold(f.value)}
	}
	return out, body
}

// AddressList parses an address list as ENVELOPE does (see addressList):
// groups appear as GroupStart and GroupEnd markers around their members.
func AddressList(v string) []Address { return addressList(v) }

// DecodeText decodes the encoded words of an unstructured value (RFC 2047)
// and makes the result valid UTF-8.
func DecodeText(v string) string { return decodeText(v) }

// ToUTF8 converts b from the named charset to UTF-8, degrading to U+FFFD
// for what it cannot convert.
func ToUTF8(charset string, b []byte) string { return toUTF8(charset, b) }
