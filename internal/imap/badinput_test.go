package imap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"casella/internal/blob"
)

// TestBadInput sends what a broken or hostile client might, and checks
// that each gets a clear BAD or NO and the connection stays usable.
func TestBadInput(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.send("\r\n")
	if l := rc.line(); !strings.HasPrefix(l, "* BAD") {
		t.Fatalf("empty line: %q", l)
	}
	rc.send("+++\r\n")
	if l := rc.line(); !strings.HasPrefix(l, "* BAD") {
		t.Fatalf("bad tag: %q", l)
	}
	rc.expect("a FROBNICATE", "a BAD Syntax error: unknown command FROBNICATE")
	rc.expect("b SELECT INBOX", "b BAD Syntax error: SELECT is not allowed in the not authenticated state")
	rc.expect(`c LOGIN "unterminated`, "c BAD")
	rc.expect("d LOGIN {5}x", "d BAD")
	rc.login()
	rc.expect("e FETCH 1 FLAGS", "e BAD")
	rc.ok("s SELECT INBOX")
	rc.expect("f FETCH 1 FLAGS", "f BAD")
	rc.expect("g FETCH * (FLAGS", "g BAD")
	rc.expect("h FETCH 1:2 (BODY[HEADER.FIELDS])", "h BAD")
	rc.expect("i FETCH 1 (BODY[MIME])", "i BAD")
	rc.expect("j UID FETCH 1:* (NOSUCH)", "j BAD")
	rc.expect("k LIST (BOGUS) \"\" *", "k BAD")
	rc.expect("l APPEND INBOX (\\Seen) \"not a date\" {3}", "l BAD")

	// A synchronising literal above the limit is refused before it is sent.
	rc.send("m APPEND INBOX {99999999}\r\n")
	if _, tagged := rc.until("m"); !strings.HasPrefix(tagged, "m NO [TOOBIG]") {
		t.Fatalf("big literal: %q", tagged)
	}
	// A non-synchronising literal in a bad command is skipped whole.
	rc.send("n BOGUS {10+}\r\n0123456789\r\n")
	if _, tagged := rc.until("n"); !strings.HasPrefix(tagged, "n BAD") {
		t.Fatalf("bad command with literal: %q", tagged)
	}
	rc.expect("o APPEND Nowhere {3+}\r\nabc", "o NO [TRYCREATE]")
	rc.ok("p NOOP")

	// An oversized non-synchronising literal ends the connection.
	rc.send("q APPEND INBOX {99999999+}\r\n")
	u, tagged := rc.until("q")
	if !strings.HasPrefix(tagged, "q BAD [TOOBIG]") || len(u) != 1 || !strings.HasPrefix(u[0], "* BYE") {
		t.Fatalf("big non-synchronising literal: %q %q", u, tagged)
	}
}

func TestLineTooLong(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.send("a LOGIN " + strings.Repeat("x", maxLine+10) + " y\r\n")
	if l := rc.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("long line: %q", l)
	}
}

// TestStoreUnavailable checks that a failing store gives a temporary NO
// and leaves the session usable.
func TestStoreUnavailable(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	rc.appendMsg("INBOX", "", simpleMsg)
	rc.ok("s SELECT INBOX")

	// A corrupt blob is never served.
	var key blob.Key
	err := e.blobs.Walk(t.Context(), "", func(i blob.Info) error { key = i.Key; return nil })
	if err != nil || key == "" {
		t.Fatalf("walk: %v", err)
	}
	k := string(key)
	if err := os.WriteFile(filepath.Join(e.dir, "blobs", k[0:2], k[2:4], k), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	u := rc.expect("f FETCH 1 (BODY.PEEK[])", "f NO [UNAVAILABLE]")
	if strings.Contains(strings.Join(u, ""), "tampered") {
		t.Fatalf("corrupt bytes served: %q", u)
	}
	rc.ok("g FETCH 1 (FLAGS)")

	e.store.Close()
	rc.expect("h STATUS INBOX (MESSAGES)", "h NO [UNAVAILABLE]")
	rc.ok("i CAPABILITY")
}
