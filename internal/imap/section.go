package imap

import (
	"bytes"
	"slices"
	"strconv"
	"strings"

	"casella/internal/message"
)

// section is a body section specification (RFC 9051 section 6.4.5):
// part numbers, then HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
// or nothing.
type section struct {
	part   []int
	text   string
	fields []string // for HEADER.FIELDS and HEADER.FIELDS.NOT, upper-cased
}

// String renders the section as a FETCH response names it.
func (s section) String() string {
	var b strings.Builder
	for i, n := range s.part {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(n))
	}
	if s.text != "" {
		if len(s.part) > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.text)
	}
	if s.fields != nil {
		b.WriteString(" (")
		e := &encoder{}
		for i, f := range s.fields {
			if i > 0 {
				e.sp()
			}
			e.astr(f)
		}
		b.Write(e.b)
		b.WriteByte(')')
	}
	return b.String()
}

// findPart follows part numbers from the message root. A number selects a
// child of a multipart; in a single-part entity only 1 is valid and means
// its body; in a message/rfc822 part numbering continues in the embedded
// message. It returns the part and whether it is a message (the root, or
// the message embedded in a message/rfc822 part).
func findPart(root *message.Part, nums []int) (*message.Part, bool) {
	if root == nil {
		return nil, false
	}
	cur, atMessage := root, true
	for _, n := range nums {
		if !atMessage && cur.Message != nil {
			cur, atMessage = cur.Message, true
		}
		switch {
		case strings.EqualFold(cur.Type, "multipart"):
			if n < 1 || n > len(cur.Parts) {
				return nil, false
			}
			cur = cur.Parts[n-1]
		case atMessage && n == 1:
			// The body of a single-part message is its part 1.
		default:
			return nil, false
		}
		atMessage = false
	}
	return cur, atMessage
}

// sectionBytes returns the bytes of a body section of raw, described by
// its parsed structure, or false when the message has no such section.
func sectionBytes(raw []byte, root *message.Part, s section) ([]byte, bool) {
	part, isMessage := findPart(root, s.part)
	if part == nil {
		return nil, false
	}
	msg := part
	if !isMessage {
		msg = part.Message
	}
	switch s.text {
	case "":
		if len(s.part) == 0 {
			return raw, true
		}
		return span(raw, part.BodyStart, part.BodyEnd), true
	case "MIME":
		if len(s.part) == 0 {
			return nil, false
		}
		return span(raw, part.HeaderStart, part.BodyStart), true
	}
	if msg == nil {
		// HEADER and TEXT name parts of a message, not of a body part.
		return nil, false
	}
	switch s.text {
	case "TEXT":
		return span(raw, msg.BodyStart, msg.BodyEnd), true
	case "HEADER":
		return span(raw, msg.HeaderStart, msg.BodyStart), true
	}
	return filterHeader(span(raw, msg.HeaderStart, msg.BodyStart), s.fields, s.text == "HEADER.FIELDS.NOT"), true
}

// span returns raw[start:end], clamped to raw, so that offsets from a
// damaged structure can never slice out of range.
func span(raw []byte, start, end int64) []byte {
	n := int64(len(raw))
	start, end = min(max(start, 0), n), min(max(end, 0), n)
	if end < start {
		return nil
	}
	return raw[start:end]
}

// filterHeader keeps the header fields named in fields (or, with not, the
// others), followed by the blank line that ends a header
// (RFC 9051 section 6.4.5, HEADER.FIELDS).
func filterHeader(header []byte, fields []string, not bool) []byte {
	var out []byte
	keep := false
	for len(header) > 0 {
		line := header
		if i := bytes.IndexByte(header, '\n'); i >= 0 {
			line = header[:i+1]
		}
		header = header[len(line):]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		if line[0] != ' ' && line[0] != '\t' {
			name, _, ok := bytes.Cut(line, []byte(":"))
			name = bytes.TrimRight(name, " \t")
			keep = ok && slices.ContainsFunc(fields, func(f string) bool { return strings.EqualFold(f, string(name)) }) != not
		}
		if keep {
			out = append(out, line...)
		}
	}
	return append(out, "\r\n"...)
}
