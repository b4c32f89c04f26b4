package imap

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"casella/internal/message"
)

// binarySection returns a section for BINARY (RFC 3516): the part's body
// with its Content-Transfer-Encoding undone by message.DecodeBody.
func binarySection(raw []byte, root *message.Part, nums []int) ([]byte, error) {
	if len(nums) == 0 {
		return raw, nil
	}
	p, _ := findPart(root, nums)
	if p == nil {
		return nil, nil
	}
	if strings.EqualFold(p.Type, "multipart") || strings.EqualFold(p.Type, "message") {
		// Composite parts have no encoding of their own to undo.
		return span(raw, p.BodyStart, p.BodyEnd), nil
	}
	data, err := message.DecodeBody(raw, p)
	if errors.Is(err, message.ErrUnknownEncoding) {
		return nil, errNo("UNKNOWN-CTE", "Cannot decode content transfer encoding %q", p.Encoding)
	}
	return data, err
}

// literal8 writes data as a literal, or as a literal8 (RFC 3516 section
// 4.2) when it holds NUL bytes, which a plain literal may not.
func (e *encoder) literal8(data []byte) *encoder {
	if bytes.IndexByte(data, 0) < 0 {
		return e.literal(data)
	}
	e.b = append(e.b, "~{"...)
	e.b = strconv.AppendInt(e.b, int64(len(data)), 10)
	e.b = append(e.b, "}\r\n"...)
	e.b = append(e.b, data...)
	return e
}
