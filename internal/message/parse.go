package message

import (
	"bytes"
	"strings"
)

// Limits on the MIME tree. Beyond them a part is kept, with its offsets,
// as an opaque application/octet-stream body: hostile nesting cannot make
// parsing slow or the metadata large, and no byte goes undescribed.
const (
	maxDepth = 50   // multipart and message/rfc822 nesting
	maxParts = 2000 // parts per message, nested messages included
)

// parser holds the state of one Parse call.
type parser struct {
	raw   []byte
	parts int // parts described so far
}

// Parse parses a message. It never fails: whatever the input, it returns a
// Meta whose offsets lie within raw (see the package notes).
func Parse(raw []byte) *Meta {
	p := &parser{raw: raw}
	root, h := p.entity(0, len(raw), 0, false)
	m := &Meta{
		Envelope:   envelopeOf(h),
		Structure:  root,
		References: references(h),
	}
	m.BaseSubject = BaseSubject(m.Envelope.Subject)
	m.Preview = preview(raw, root)
	m.HasAttachment = hasAttachment(root)
	return m
}

// entity describes the MIME entity in raw[start:end]: a header, an empty
// line and a body. inDigest says that the entity is a child of a
// multipart/digest, whose default type is message/rfc822 (RFC 2046 section
// 5.1.5).
func (p *parser) entity(start, end, depth int, inDigest bool) (*Part, header) {
	p.parts++
	h, bodyStart := parseHeader(p.raw, start, end)
	part := &Part{
		HeaderStart: int64(start),
		BodyStart:   int64(bodyStart),
		BodyEnd:     int64(end),
		Lines:       countLines(p.raw[bodyStart:end]),
		ID:          validUTF8(h.get("content-id")),
		Description: decodeText(h.get("content-description")),
		Encoding:    strings.ToLower(strings.TrimSpace(stripComments(h.get("content-transfer-encoding")))),
		MD5:         validUTF8(h.get("content-md5")),
		Location:    validUTF8(h.get("content-location")),
	}
	part.Encoding = validUTF8(part.Encoding)
	p.contentType(part, h.get("content-type"), inDigest)
	if v := h.get("content-disposition"); v != "" {
		part.Disposition, part.DispositionParams = parseValueParams(v)
		part.Disposition = validUTF8(part.Disposition)
	}
	for _, l := range strings.Split(h.get("content-language"), ",") {
		if l = strings.TrimSpace(stripComments(l)); l != "" {
			part.Language = append(part.Language, validUTF8(l))
		}
	}

	switch {
	case part.Type == "multipart":
		if depth >= maxDepth || p.parts >= maxParts {
			opaque(part)
			break
		}
		boundary := part.Params["boundary"]
		if boundary != "" {
			part.Parts = p.multipart(bodyStart, end, boundary, depth+1, part.Subtype == "digest")
		}
		if len(part.Parts) == 0 {
			// Without a boundary, or without a single delimiter, the
			// Content-Type is unusable: RFC 2045 section 5.2 says to
			// treat the body as text/plain.
			defaultType(part)
		}
	case part.Type == "message" && (part.Subtype == "rfc822" || part.Subtype == "global"):
		// message/global may carry UTF-8 headers (RFC 6532 section 3.7);
		// the header parser takes them either way.
		if depth >= maxDepth || p.parts >= maxParts || !identityEncoding(part.Encoding) {
			opaque(part)
			break
		}
		sub, subh := p.entity(bodyStart, end, depth+1, false)
		env := envelopeOf(subh)
		part.Message, part.Envelope = sub, &env
	}
	return part, h
}

// contentType sets the part's type, subtype and parameters from its
// Content-Type value, with the defaults of RFC 2045 section 5.2.
func (p *parser) contentType(part *Part, v string, inDigest bool) {
	if v == "" {
		if inDigest {
			part.Type, part.Subtype = "message", "rfc822"
			return
		}
		defaultType(part)
		return
	}
	token, params := parseValueParams(v)
	typ, sub, ok := strings.Cut(token, "/")
	typ, sub = strings.TrimSpace(typ), strings.TrimSpace(sub)
	if !ok || !isToken(typ) || !isToken(sub) {
		defaultType(part)
		return
	}
	part.Type, part.Subtype, part.Params = typ, sub, params
}

// defaultType makes part text/plain; charset=us-ascii (RFC 2045 section 5.2).
func defaultType(part *Part) {
	part.Type, part.Subtype = "text", "plain"
	part.Params = map[string]string{"charset": "us-ascii"}
}

// opaque makes part an application/octet-stream body without children.
func opaque(part *Part) {
	part.Type, part.Subtype, part.Params = "application", "octet-stream", nil
	part.Parts, part.Message, part.Envelope = nil, nil, nil
}

// multipart splits the body raw[start:end] of a multipart at its boundary
// delimiter lines (RFC 2046 section 5.1.1) and describes each body part.
// The line break before a delimiter belongs to the delimiter, not to the
// part before it. The preamble and epilogue are not parts. A body whose
// close delimiter is missing ends its last part at end.
func (p *parser) multipart(start, end int, boundary string, depth int, digest bool) []*Part {
	delim := []byte("--" + boundary)
	var parts []*Part
	partStart := -1
	for pos := start; pos < end; {
		lineEnd, next := end, end
		if i := bytes.IndexByte(p.raw[pos:end], '\n'); i >= 0 {
			lineEnd, next = pos+i, pos+i+1
		}
		if line := p.raw[pos:lineEnd]; bytes.HasPrefix(line, delim) {
			rest := line[len(delim):]
			closing := bytes.HasPrefix(rest, []byte("--"))
			if closing {
				rest = rest[2:]
			}
			// Only white space may follow a delimiter; this is also what
			// tells "--b" apart from a longer boundary "--b2".
			if len(bytes.Trim(rest, " \t\r")) == 0 {
				if partStart >= 0 {
					bodyEnd := pos
					if bodyEnd > partStart && p.raw[bodyEnd-1] == '\n' {
						bodyEnd--
						if bodyEnd > partStart && p.raw[bodyEnd-1] == '\r' {
							bodyEnd--
						}
					}
					part, _ := p.entity(partStart, bodyEnd, depth, digest)
					parts = append(parts, part)
				}
				if closing || p.parts >= maxParts {
					return parts
				}
				partStart = next
			}
		}
		pos = next
	}
	if partStart >= 0 {
		part, _ := p.entity(partStart, end, depth, digest)
		parts = append(parts, part)
	}
	return parts
}

// identityEncoding reports whether a Content-Transfer-Encoding leaves the
// bytes as they are (RFC 2045 section 6.2).
func identityEncoding(enc string) bool {
	switch enc {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

// countLines returns the number of lines of body; a last line without a
// line break counts.
func countLines(body []byte) int64 {
	n := int64(bytes.Count(body, []byte("\n")))
	if len(body) > 0 && body[len(body)-1] != '\n' {
		n++
	}
	return n
}

// isToken reports whether s is an RFC 2045 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}
