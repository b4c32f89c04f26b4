package imap

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"

	"casella/internal/message"
)

// maxSearchText bounds how much decoded text of one message SEARCH BODY and
// TEXT look at, so that a huge message cannot make one command unbounded.
const maxSearchText = 16 << 20

// headerText returns a message's header with encoded words decoded
// (RFC 2047), for TEXT.
func headerText(raw []byte) string {
	h := span(raw, 0, headerEnd(raw))
	dec := &mime.WordDecoder{CharsetReader: charset.Reader}
	if s, err := dec.DecodeHeader(string(h)); err == nil {
		return s
	}
	return string(h)
}

// headerContains reports whether the message has a header field named
// field whose decoded value contains text (SEARCH HEADER, RFC 9051
// section 6.4.4). An empty text matches any message with the field.
func headerContains(raw []byte, field, text string) bool {
	h := span(raw, 0, headerEnd(raw))
	dec := &mime.WordDecoder{CharsetReader: charset.Reader}
	var value []byte
	inField := false
	check := func() bool {
		if !inField {
			return false
		}
		v, err := dec.DecodeHeader(string(bytes.TrimSpace(value)))
		if err != nil {
			v = string(value)
		}
		return containsFold(v, text)
	}
	for len(h) > 0 {
		line := h
		if i := bytes.IndexByte(h, '\n'); i >= 0 {
			line = h[:i+1]
		}
		h = h[len(line):]
		if line[0] == ' ' || line[0] == '\t' {
			value = append(value, bytes.TrimRight(line, "\r\n")...)
			continue
		}
		if check() {
			return true
		}
		name, v, ok := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(":"))
		inField = ok && strings.EqualFold(string(bytes.TrimSpace(name)), field)
		value = append(value[:0], v...)
	}
	return check()
}

// bodyText returns the decoded text of a message's text parts, converted
// to UTF-8, for SEARCH BODY and TEXT.
func bodyText(raw []byte, root *message.Part) string {
	var b strings.Builder
	var walk func(p *message.Part, depth int)
	walk = func(p *message.Part, depth int) {
		if p == nil || depth > 100 || b.Len() > maxSearchText {
			return
		}
		for _, c := range p.Parts {
			walk(c, depth+1)
		}
		if p.Message != nil {
			walk(p.Message, depth+1)
			return
		}
		if !strings.EqualFold(p.Type, "text") || len(p.Parts) > 0 {
			return
		}
		data, err := message.DecodeBody(raw, p)
		if err != nil {
			return
		}
		b.WriteString(toUTF8(data, p.Params["charset"]))
		b.WriteByte('\n')
	}
	walk(root, 0)
	return b.String()
}

// toUTF8 converts text in the named charset to UTF-8; unknown charsets and
// invalid bytes are kept as they are, which a substring search tolerates.
func toUTF8(data []byte, cs string) string {
	if cs == "" || strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "us-ascii") || utf8.Valid(data) && !strings.HasPrefix(strings.ToLower(cs), "iso-2022") {
		return string(data)
	}
	r, err := charset.Reader(cs, bytes.NewReader(data))
	if err != nil {
		return string(data)
	}
	out, err := io.ReadAll(io.LimitReader(r, maxSearchText))
	if err != nil {
		return string(data)
	}
	return string(out)
}
