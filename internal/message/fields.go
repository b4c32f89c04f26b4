package message

import (
	"net/mail"
	"time"
)

// The functions of this file give other packages the parsers that Parse
// uses, so that each header form is parsed the same way everywhere: JMAP's
// header:Name:asForm properties (RFC 8621 section 4.1.2) and Sieve's
// header and address tests (RFC 5228 section 5.7).

// HeaderField is one header field as it appears in a message.
type HeaderField struct {
	Name  string // as written
	Value string // raw, folds included, without the colon
}

// Fields returns the header fields of part p of the message raw, in order:
// the message's own header for the top-level Part. Offsets outside raw
// give no fields.
func Fields(raw []byte, p *Part) []HeaderField {
	if p.HeaderStart < 0 || p.HeaderStart > p.BodyStart || p.BodyStart > int64(len(raw)) {
		return nil
	}
	h, _ := parseHeader(raw, int(p.HeaderStart), int(p.BodyStart))
	out := make([]HeaderField, len(h))
	for i, f := range h {
		out[i] = HeaderField{Name: f.rawName, Value: validUTF8(string(f.value))}
	}
	return out
}

// Header returns the top-level header fields of the message raw, in order,
// and the offset at which its body starts: what a filter reads without
// parsing the MIME structure (the Sieve interpreter, RFC 5228 section 5.7).
func Header(raw []byte) ([]HeaderField, int) {
	h, body := parseHeader(raw, 0, len(raw))
	out := make([]HeaderField, len(h))
	for i, f := range h {
		out[i] = HeaderField{Name: f.rawName, Value: validUTF8(string(f.value))}
	}
	return out, body
}

// Unfold removes the line breaks of a folded value and trims surrounding
// white space (RFC 5322 section 2.2.3).
func Unfold(v string) string { return unfold([]byte(v)) }

// DecodeText decodes the encoded words (RFC 2047) of an unstructured
// value, unfolded, into valid UTF-8.
func DecodeText(v string) string { return decodeText(unfold([]byte(v))) }

// AddressList parses an address-list value as the envelope's addresses
// are parsed, group markers included.
func AddressList(v string) []Address { return addressList(unfold([]byte(v))) }

// MessageIDs returns the message ids of a Message-ID, In-Reply-To or
// References value, without angle brackets.
func MessageIDs(v string) []string { return msgIDs(unfold([]byte(v))) }

// ParseDate parses a date-time value (RFC 5322 section 3.3) as the
// envelope's Date is parsed.
func ParseDate(v string) (time.Time, error) { return mail.ParseDate(unfold([]byte(v))) }

// Text returns the body of part p with its transfer encoding removed and
// its charset converted to UTF-8.
func Text(raw []byte, p *Part) (string, error) {
	b, err := DecodeBody(raw, p)
	if err != nil {
		return "", err
	}
	return toUTF8(p.Params["charset"], b), nil
}
