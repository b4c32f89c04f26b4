package pop3

import (
	"bufio"
	"bytes"
)

// writeDotStuffed writes data as the body of a multi-line response
// (RFC 1939 section 3): every line ends in CRLF, whatever the stored line
// endings, and a line that starts with "." gets another one. The
// terminating "." line is the caller's. Write errors surface at the next
// flush.
func writeDotStuffed(w *bufio.Writer, data []byte) {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > 0 && line[0] == '.' {
			w.WriteByte('.')
		}
		w.Write(line)
		w.WriteString("\r\n")
	}
}
