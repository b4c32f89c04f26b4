package arc

import (
	"bytes"
	"strings"
)

// Canonicalizations (RFC 6376 section 3.4).
const (
	simple  = "simple"
	relaxed = "relaxed"
)

// canonHeader canonicalizes one raw header field (with its CRLF).
func canonHeader(c, raw string) string {
	if c == simple {
		return raw
	}
	// Section 3.4.2: lower-case name, unfold, runs of WSP to one SP, no
	// WSP at the value's ends or around the colon.
	name, value, _ := strings.Cut(raw, ":")
	value = strings.ReplaceAll(strings.TrimSuffix(value, "\r\n"), "\r\n", "")
	var b strings.Builder
	b.WriteString(strings.ToLower(strings.TrimRight(name, " \t")))
	b.WriteByte(':')
	space, started := false, false
	for i := 0; i < len(value); i++ {
		if value[i] == ' ' || value[i] == '\t' {
			space = true
			continue
		}
		if space && started {
			b.WriteByte(' ')
		}
		space, started = false, true
		b.WriteByte(value[i])
	}
	b.WriteString("\r\n")
	return b.String()
}

// canonBody canonicalizes a body (with CRLF line ends).
func canonBody(c string, body []byte) []byte {
	if c == relaxed {
		// Section 3.4.4: runs of WSP to one SP, none at line ends.
		var out []byte
		for line := range bytes.SplitSeq(body, []byte("\r\n")) {
			space := false
			for _, ch := range line {
				if ch == ' ' || ch == '\t' {
					space = true
					continue
				}
				if space {
					out = append(out, ' ')
				}
				space = false
				out = append(out, ch)
			}
			out = append(out, '\r', '\n')
		}
		body = out
	}
	// Sections 3.4.3 and 3.4.4: no empty lines at the end; simple turns
	// an empty body into one CRLF, relaxed leaves it empty.
	for bytes.HasSuffix(body, []byte("\r\n\r\n")) {
		body = body[:len(body)-2]
	}
	if len(body) > 0 && !bytes.HasSuffix(body, []byte("\r\n")) {
		body = append(bytes.Clone(body), '\r', '\n')
	}
	if c == relaxed && bytes.Equal(body, []byte("\r\n")) {
		return nil
	}
	if c == simple && len(body) == 0 {
		return []byte("\r\n")
	}
	return body
}
