package smtp

import (
	"bufio"
	"bytes"
	"fmt"
	"net/textproto"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzReceived checks that no HELO name or recipient, however hostile,
// makes the Received header anything but one well-formed, folded header.
func FuzzReceived(f *testing.F) {
	f.Add("client.test", "alice@example.test", false)
	f.Add("[192.0.2.1]", "üser@example.test", true)
	f.Add("evil\r\nBcc: x@y", "a\rb\nc@d", false)
	f.Add("(comment) <x> ;", "\xff\xfe@\x00", true)
	f.Add(strings.Repeat("h", 2000), strings.Repeat("ü", 500), true)
	f.Fuzz(func(t *testing.T, helo, rcpt string, utf8Mode bool) {
		r := receivedInfo{Helo: helo, RemoteIP: "192.0.2.1", Hostname: "mx.example.test", UTF8: utf8Mode, ID: "abc", For: rcpt, Date: time.Unix(0, 0).UTC()}
		h := r.header()
		if !bytes.HasPrefix(h, []byte("Received: ")) || !bytes.HasSuffix(h, []byte("\r\n")) {
			t.Fatalf("header %q", h)
		}
		if !utf8.Valid(h) {
			t.Fatalf("invalid UTF-8 in %q", h)
		}
		lines := strings.Split(strings.TrimSuffix(string(h), "\r\n"), "\r\n")
		for i, l := range lines {
			if strings.ContainsAny(l, "\r\n") {
				t.Fatalf("bare line break in %q", h)
			}
			if len(l) > 998 {
				t.Fatalf("line of %d octets", len(l))
			}
			if i > 0 && !strings.HasPrefix(l, "\t") {
				t.Fatalf("line %d not folded: %q", i, l)
			}
			for _, c := range []byte(l) {
				if c < ' ' && c != '\t' || c == 0x7f || (!utf8Mode && c >= 0x80) {
					t.Fatalf("octet %#x in %q", c, l)
				}
			}
		}
		// It parses as exactly one header field.
		hdr, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(h, '\r', '\n')))).ReadMIMEHeader()
		if err != nil || len(hdr) != 1 || len(hdr["Received"]) != 1 {
			t.Fatalf("header %q parses as %v, %v", h, hdr, err)
		}
	})
}

// FuzzCheckLineEndings compares the bare CR/LF check with its definition:
// data passes exactly when removing every CRLF leaves no CR or LF, and
// otherwise the error names the first CR or LF that is not in a CRLF.
func FuzzCheckLineEndings(f *testing.F) {
	for _, s := range []string{"", "a\r\nb", "\n.\n", "\r\n.\n", "\r.\r", "\r\r\n", "x\r", "ab\r\ncd\ne\rf", "ab\r\nc\rd\r\n", "ab\r\ncd\r\nef\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rest := bytes.ReplaceAll(data, []byte("\r\n"), nil)
		want := !bytes.ContainsAny(rest, "\r\n")
		err := checkLineEndings(data)
		if got := err == nil; got != want {
			t.Fatalf("checkLineEndings(%q) ok = %v, want %v", data, got, want)
		}
		if err != nil && err.Error() != firstBare(data) {
			t.Fatalf("checkLineEndings(%q) = %q, want %q", data, err, firstBare(data))
		}
	})
}

// firstBare describes the first CR or LF of data that is not part of a
// CRLF, the way checkLineEndings does.
func firstBare(data []byte) string {
	for i, c := range data {
		if c == '\r' && (i+1 == len(data) || data[i+1] != '\n') {
			return fmt.Sprintf("bare CR at offset %d", i)
		}
		if c == '\n' && (i == 0 || data[i-1] != '\r') {
			return fmt.Sprintf("bare LF at offset %d", i)
		}
	}
	return ""
}

// FuzzLoginServer feeds arbitrary responses to the LOGIN mechanism; it
// must finish or fail, never panic or authenticate without a password step.
func FuzzLoginServer(f *testing.F) {
	f.Add([]byte("user"), []byte("pass"), []byte("extra"), true)
	f.Add([]byte{}, []byte{0}, []byte{}, false)
	f.Fuzz(func(t *testing.T, a, b, c []byte, initial bool) {
		calls := 0
		l := &loginServer{auth: func(u, p string) error {
			calls++
			return nil
		}}
		first := a
		if !initial {
			first = nil
		}
		done := false
		for _, resp := range [][]byte{first, b, c, a} {
			_, d, err := l.Next(resp)
			if err != nil || d {
				done = d
				break
			}
		}
		if done != (calls == 1) {
			t.Fatalf("done %v after %d auth calls", done, calls)
		}
	})
}

// FuzzTLSNotRequired checks that no message makes the TLS-Required
// check panic, and that it answers yes only for a header that has the
// field with value No: a "No" in a body or in another field waives no
// policy.
func FuzzTLSNotRequired(f *testing.F) {
	f.Add([]byte("TLS-Required: No\r\n\r\nbody"))
	f.Add([]byte("Subject: x\r\ntls-required:\r\n no\r\n\r\n"))
	f.Add([]byte("Subject: x\r\n\r\nTLS-Required: No\r\n"))
	f.Add([]byte("X-TLS-Required: No\r\nTLS-Required: Yes\r\n\r\n"))
	f.Add([]byte("TLS-Required: No"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		if !tlsNotRequired(msg) {
			return
		}
		head := msg
		if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
			head = msg[:i]
		}
		if !bytes.Contains(bytes.ToLower(head), []byte("tls-required")) {
			t.Fatalf("TLS-Required: No found in %q, whose header has no such field", msg)
		}
	})
}
