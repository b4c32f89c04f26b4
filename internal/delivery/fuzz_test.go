package delivery

import (
	"bytes"
	"testing"

	"casella/internal/sieve"
)

// FuzzEditHeader checks the header editing of hostile messages: without
// edits the bytes stay as they were, an added field is there once, and a
// deletion never touches the body.
func FuzzEditHeader(f *testing.F) {
	f.Add([]byte("A: 1\r\nB: 2\r\n continued\r\n\r\nbody\r\n"), "B", "v")
	f.Add([]byte("no colon\nA:\n\nbody"), "a", "x y z")
	f.Add([]byte("\r\nbody only"), "X", "")
	f.Fuzz(func(t *testing.T, raw []byte, name, value string) {
		if got := editHeader(raw, nil); !bytes.Equal(got, raw) {
			t.Fatalf("no edits changed %q into %q", raw, got)
		}
		_, rest := splitHeader(raw)
		got := editHeader(raw, []sieve.Action{sieve.DeleteHeader{Name: name, Occurrences: []int{1, 2, 3}}})
		if !bytes.HasSuffix(got, rest) {
			t.Fatalf("deleting %q changed the body of %q: %q", name, raw, got)
		}
		if !validName(name) {
			return
		}
		added := editHeader(raw, []sieve.Action{sieve.AddHeader{Name: name, Value: value}})
		fields, _ := splitHeader(added)
		if len(fields) == 0 || !bytes.HasPrefix(fields[0].b, []byte(name+":")) {
			t.Fatalf("added %q: %q", name, added)
		}
	})
}

// validName is what the interpreter lets addheader name (RFC 5322
// section 3.6.8), and a value without line breaks.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}
