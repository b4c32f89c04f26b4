package delivery

import (
	"bytes"
	"slices"
	"strings"

	"casella/internal/sieve"
)

// rawField is one header field as written: its lower-cased name and its
// bytes, continuation lines and line end included.
type rawField struct {
	name string
	b    []byte
}

// splitHeader cuts raw into its header fields and the rest (the empty
// line and the body). A line that is no field (no colon) is kept as it is,
// with no name, so that nothing is lost.
func splitHeader(raw []byte) ([]rawField, []byte) {
	var fields []rawField
	i := 0
	for i < len(raw) {
		if raw[i] == '\n' || raw[i] == '\r' && i+1 < len(raw) && raw[i+1] == '\n' {
			break
		}
		end := i
		for {
			nl := bytes.IndexByte(raw[end:], '\n')
			if nl < 0 {
				end = len(raw)
				break
			}
			end += nl + 1
			if end >= len(raw) || raw[end] != ' ' && raw[end] != '\t' {
				break
			}
		}
		name := ""
		if colon := bytes.IndexByte(raw[i:end], ':'); colon > 0 {
			name = strings.ToLower(strings.TrimRight(string(raw[i:i+colon]), " \t"))
		}
		fields = append(fields, rawField{name: name, b: raw[i:end]})
		i = end
	}
	return fields, raw[i:]
}

// editHeader applies a script's addheader and deleteheader actions (RFC
// 5293) to the message to store, in the order the script took them; the
// interpreter has already left out the protected fields (Received,
// Auto-Submitted) and bounded the number of edits. An added value is
// folded so that no line passes the limit of RFC 5322 section 2.1.1.
func editHeader(raw []byte, edits []sieve.Action) []byte {
	fields, rest := splitHeader(raw)
	for _, e := range edits {
		switch e := e.(type) {
		case sieve.AddHeader:
			f := rawField{name: strings.ToLower(e.Name), b: []byte(fold(e.Name+": "+e.Value) + "\r\n")}
			if e.Last {
				fields = append(fields, f)
			} else {
				fields = append([]rawField{f}, fields...)
			}
		case sieve.DeleteHeader:
			var idx []int
			for i, f := range fields {
				if f.name == e.Name {
					idx = append(idx, i)
				}
			}
			for _, n := range slices.Backward(e.Occurrences) {
				if n >= 1 && n <= len(idx) {
					fields = slices.Delete(fields, idx[n-1], idx[n-1]+1)
				}
			}
		}
	}
	var b bytes.Buffer
	b.Grow(len(raw) + 256)
	for _, f := range fields {
		b.Write(f.b)
	}
	b.Write(rest)
	return b.Bytes()
}

// fold breaks a field's line at spaces so that lines stay near 78
// characters (RFC 5322 section 2.2.3); a word longer than that stays
// whole.
func fold(line string) string {
	if len(line) <= 78 {
		return line
	}
	var b strings.Builder
	n := 0
	for i, w := range strings.Split(line, " ") {
		if i > 0 {
			if n+1+len(w) > 78 {
				b.WriteString("\r\n")
				n = 0
			}
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
