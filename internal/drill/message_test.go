package drill

import (
	"bytes"
	"testing"
	"time"
)

func TestComposer(t *testing.T) {
	c := newComposer("abc123", 7, "drill@remote.test", "drill@drill.test", time.Unix(0, 0))
	a, b := c.message(3), c.message(3)
	if !bytes.Equal(a, b) {
		t.Fatal("message 3 differs between two calls")
	}
	if bytes.Equal(a, c.message(4)) {
		t.Fatal("messages 3 and 4 are the same")
	}
	run, i, ok := parseMessageID(a)
	if !ok || run != "abc123" || i != 3 {
		t.Fatalf("parseMessageID = %q, %d, %v", run, i, ok)
	}
	for i := range 50 {
		m := c.message(i)
		body := m[bytes.Index(m, []byte("\r\n\r\n"))+4:]
		if len(body) < minBody || len(body) > maxBody+lineLen+2 {
			t.Fatalf("message %d has a body of %d bytes", i, len(body))
		}
		if !bytes.HasSuffix(m, []byte("\r\n")) || bytes.Contains(m, []byte("\r\n.")) {
			t.Fatalf("message %d does not end in CRLF or has a line starting with a dot", i)
		}
	}
}

func TestParseMessageID(t *testing.T) {
	for _, tt := range []struct {
		msg   string
		run   string
		index int
		ok    bool
	}{
		{"Subject: x\r\nMessage-ID: <r1.12@drill.test>\r\n\r\nbody\r\n", "r1", 12, true},
		{"message-id:   <r1.0@drill.test>\r\n\r\n", "r1", 0, true},
		{"Message-ID: <r1.12@other.test>\r\n\r\n", "", 0, false},
		{"Subject: x\r\n\r\nMessage-ID: <r1.12@drill.test>\r\n", "", 0, false}, // in the body
		{"Message-ID: <r1.x@drill.test>\r\n\r\n", "", 0, false},
	} {
		run, i, ok := parseMessageID([]byte(tt.msg))
		if run != tt.run || i != tt.index || ok != tt.ok {
			t.Errorf("parseMessageID(%q) = %q, %d, %v; want %q, %d, %v", tt.msg, run, i, ok, tt.run, tt.index, tt.ok)
		}
	}
}

func TestStripTrace(t *testing.T) {
	original := "From: <a@remote.test>\r\nReceived: not trace, it follows From\r\n\r\nbody\r\n"
	for _, prefix := range []string{
		"",
		"Return-Path: <a@remote.test>\r\n",
		"Return-Path: <a@remote.test>\r\nDelivered-To: b@drill.test\r\nReceived: from x\r\n\tby mx.drill.test;\r\n Mon, 1 Jan 2024 00:00:00 +0000\r\n",
		"RECEIVED: from y\r\nreceived: from z\r\n",
	} {
		got := StripTrace([]byte(prefix + original))
		if string(got) != original {
			t.Errorf("StripTrace(%q + original) = %q", prefix, got)
		}
	}
	if got := StripTrace([]byte("Received: unterminated")); string(got) != "Received: unterminated" {
		t.Errorf("StripTrace of a header without CRLF = %q", got)
	}
}
