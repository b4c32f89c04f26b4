package smtp

import (
	"bytes"
	"testing"
)

// BenchmarkCheckLineEndings checks a 27 KB message of 76-character lines,
// the bench's mean size, as intake does for every message.
func BenchmarkCheckLineEndings(b *testing.B) {
	line := append(bytes.Repeat([]byte("x"), 76), "\r\n"...)
	data := bytes.Repeat(line, 27500/len(line))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := checkLineEndings(data); err != nil {
			b.Fatal(err)
		}
	}
}
