package inflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"math/rand/v2"
	"os/exec"
	"testing"
	"time"
)

// sample returns n bytes that compress somewhat, like mail.
func sample(r *rand.Rand, n int) []byte {
	words := []string{"Subject: ", "FETCH ", "1:* ", "(FLAGS) ", "BODY[] ", "the ", "mail ", "\r\n", "Casella ", "é ", "\x00\xff"}
	var b bytes.Buffer
	for b.Len() < n {
		if r.IntN(4) == 0 {
			b.WriteByte(byte(r.IntN(256)))
		} else {
			b.WriteString(words[r.IntN(len(words))])
		}
	}
	return b.Bytes()[:n]
}

// TestAgainstCompressFlate decodes what compress/flate writes, at every
// level, with sync flushes between pieces, and checks every byte.
func TestAgainstCompressFlate(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, level := range []int{flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression, flate.HuffmanOnly} {
		var want, stream bytes.Buffer
		w, _ := flate.NewWriter(&stream, level)
		for range 30 {
			p := sample(r, r.IntN(70000))
			want.Write(p)
			w.Write(p)
			if r.IntN(2) == 0 {
				w.Flush()
			}
		}
		w.Close()
		got, err := io.ReadAll(NewReader(&stream))
		if err != nil {
			t.Fatalf("level %d: %v", level, err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("level %d: %d bytes decoded, want %d, or they differ", level, len(got), want.Len())
		}
	}
}

// TestPartialFlush checks that a command ended with zlib's Z_PARTIAL_FLUSH
// is returned before the next one is sent, as mbsync needs.
func TestPartialFlush(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 (for zlib's partial flush) is not installed")
	}
	out, err := exec.Command(python, "-c", `
import sys, zlib
c = zlib.compressobj(6, zlib.DEFLATED, -15)
for cmd in (b"1 NAMESPACE\r\n", b"2 LIST \"\" *\r\n" * 50, b"3 LOGOUT\r\n"):
    chunk = c.compress(cmd) + c.flush(zlib.Z_PARTIAL_FLUSH)
    sys.stdout.buffer.write(len(chunk).to_bytes(4, "big") + chunk)
`).Output()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	z := NewReader(pr)
	want := [][]byte{[]byte("1 NAMESPACE\r\n"), bytes.Repeat([]byte("2 LIST \"\" *\r\n"), 50), []byte("3 LOGOUT\r\n")}
	for i, w := range want {
		n := int(out[0])<<24 | int(out[1])<<16 | int(out[2])<<8 | int(out[3])
		chunk := out[4 : 4+n]
		out = out[4+n:]
		go pw.Write(chunk)
		got := make([]byte, 0, len(w))
		done := make(chan error, 1)
		go func() {
			buf := make([]byte, 4096)
			for len(got) < len(w) {
				n, err := z.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("command %d: %v", i+1, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("command %d was not returned before the next was sent", i+1)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("command %d: got %q, want %q", i+1, got, w)
		}
	}
}

func TestCorrupt(t *testing.T) {
	for _, in := range [][]byte{
		{0x07},                         // reserved block type 3
		{0x00, 0x01, 0x00, 0x00, 0x00}, // stored length and complement disagree
		{0x05, 0xe0, 0xff, 0xff},       // dynamic block with bad tables
		{0x03, 0xff, 0xff, 0xff, 0xff, 0xff},
	} {
		_, err := io.ReadAll(NewReader(bytes.NewReader(in)))
		if err == nil {
			t.Errorf("%x: no error", in)
		}
	}
	_, err := io.ReadAll(NewReader(bytes.NewReader([]byte{0x00})))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated stream: %v, want unexpected EOF", err)
	}
}

// FuzzReader checks that no input makes the reader panic or loop, and that
// what compress/flate accepts decodes the same.
func FuzzReader(f *testing.F) {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write([]byte("a FETCH 1:* (FLAGS)\r\na FETCH 1:* (FLAGS)\r\n"))
	w.Close()
	f.Add(b.Bytes())
	f.Add([]byte{0x07})
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := io.ReadAll(io.LimitReader(NewReader(bytes.NewReader(in)), 1<<20))
		want, werr := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(in)), 1<<20))
		if err == nil && werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("decoded %q, compress/flate %q", got, want)
		}
	})
}
