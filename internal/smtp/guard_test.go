package smtp

import (
	"bytes"
	"testing"
)

// hasDotCR is the guard's rule on a whole stream: LF "." CR, then a byte
// that is not LF.
func hasDotCR(b []byte) bool {
	for i := 0; i+3 < len(b); i++ {
		if b[i] == '\n' && b[i+1] == '.' && b[i+2] == '\r' && b[i+3] != '\n' {
			return true
		}
	}
	return false
}

// FuzzConnGuard checks that the guard finds the sequence however the
// stream is cut into reads.
func FuzzConnGuard(f *testing.F) {
	f.Add([]byte("DATA\r\n.\rX\r\n.\r\n"), uint8(7))
	f.Add([]byte("a\r\n.\r\n"), uint8(3))
	f.Add([]byte("a\r\n..\r\n.\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		var g connGuard
		step := int(cut%16) + 1
		for rest := data; len(rest) > 0; {
			n := min(step, len(rest))
			if w, err := g.Write(rest[:n]); w != n || err != nil {
				t.Fatalf("Write = %d, %v", w, err)
			}
			rest = rest[n:]
		}
		if got, want := g.takeBareCR(), hasDotCR(data); got != want {
			t.Fatalf("guard found %v in %q cut every %d bytes, want %v", got, data, step, want)
		}
		if g.takeBareCR() {
			t.Fatal("takeBareCR did not clear")
		}
	})
}

func TestConnGuardCases(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"DATA\r\n.\rMAIL FROM:<x>\r\n", true},
		{"body\r\n.\r\n", false},
		{"body\r\n..\rx", false},
		{"x\n.\r", false}, // nothing after the CR yet
		{"\n.\r\r", true},
	} {
		var g connGuard
		g.Write([]byte(tc.in))
		if got := g.takeBareCR(); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.in, got, tc.want)
		}
	}
}

// BenchmarkConnGuard scans a 27 KB message of 76-character lines in the
// 4 KB reads go-smtp's bufio makes, as every connection's guard does.
func BenchmarkConnGuard(b *testing.B) {
	line := append(bytes.Repeat([]byte("x"), 76), "\r\n"...)
	data := bytes.Repeat(line, 27500/len(line))
	b.SetBytes(int64(len(data)))
	var g connGuard
	for b.Loop() {
		for rest := data; len(rest) > 0; {
			n := min(4096, len(rest))
			g.Write(rest[:n])
			rest = rest[n:]
		}
	}
}
