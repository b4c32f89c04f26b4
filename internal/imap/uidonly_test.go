package imap

import (
	"strings"
	"testing"
)

// TestUIDOnly checks UIDONLY (RFC 9586): commands and search keys with
// sequence numbers are refused with UIDREQUIRED, and the server names
// messages by UID only: UIDFETCH and VANISHED, never FETCH or EXPUNGE.
func TestUIDOnly(t *testing.T) {
	e := newTestEnv(t)
	a, b := e.raw(t), e.raw(t)
	a.login()
	b.login()
	for range 3 {
		a.appendMsg("INBOX", "", simpleMsg)
	}
	if u := a.ok("e ENABLE UIDONLY"); u[0] != "* ENABLED UIDONLY" {
		t.Fatalf("enable: %q", u)
	}
	u := a.ok("s SELECT INBOX")
	if len(grep(u, "* OK [UNSEEN")) != 0 {
		t.Fatalf("UNSEEN carries a sequence number: %q", u)
	}
	b.ok("s SELECT INBOX")
	for _, cmd := range []string{"FETCH 1 (FLAGS)", `STORE 1 +FLAGS (\Seen)`, "SEARCH ALL", "COPY 1 Trash", "MOVE 1 Trash",
		"SORT (DATE) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL", "UID SEARCH 1:2", "UID SEARCH OR 1 SEEN", "UID SORT (DATE) UTF-8 2"} {
		a.expect("x "+cmd, "x BAD [UIDREQUIRED]")
	}
	if u := a.ok("f UID FETCH 2:* (FLAGS)"); strings.Join(u, "\n") != "* 2 UIDFETCH (FLAGS (\\Recent))\n* 3 UIDFETCH (FLAGS (\\Recent))" {
		t.Fatalf("uid fetch:\n%s", strings.Join(u, "\n"))
	}
	if u := a.ok("f UID FETCH 2 (UID FLAGS)"); strings.Join(u, "\n") != "* 2 UIDFETCH (UID 2 FLAGS (\\Recent))" {
		t.Fatalf("uid fetch of UID:\n%s", strings.Join(u, "\n"))
	}
	if u := a.ok(`g UID STORE 3 +FLAGS (\Flagged)`); strings.Join(u, "\n") != "* 3 UIDFETCH (FLAGS (\\Flagged \\Recent))" {
		t.Fatalf("uid store:\n%s", strings.Join(u, "\n"))
	}
	if u := a.ok("h UID SEARCH UID 2:* FLAGGED"); u[0] != "* SEARCH 3" {
		t.Fatalf("uid search: %q", u)
	}
	// Others' changes arrive as UIDFETCH and VANISHED.
	b.ok(`f STORE 1 +FLAGS.SILENT (\Seen)`)
	b.ok(`g STORE 2 +FLAGS.SILENT (\Deleted)`)
	b.ok("x EXPUNGE")
	u = a.ok("n NOOP")
	if strings.Join(u, "\n") != "* VANISHED 2\n* 1 UIDFETCH (FLAGS (\\Seen \\Recent))" {
		t.Fatalf("updates:\n%s", strings.Join(u, "\n"))
	}
	a.ok(`i UID STORE 1 +FLAGS.SILENT (\Deleted)`)
	if u := a.ok("j UID EXPUNGE 1"); strings.Join(u, "\n") != "* VANISHED 1" {
		t.Fatalf("uid expunge: %q", u)
	}
	if u := a.ok("k UID MOVE 3 Trash"); len(u) != 2 || !strings.HasPrefix(u[0], "* OK [COPYUID ") || u[1] != "* VANISHED 3" {
		t.Fatalf("uid move: %q", u)
	}
	a.ok("q ENABLE QRESYNC")
	a.expect("q SELECT INBOX (QRESYNC (1 1 1:9 (1:2 1:2)))", "q BAD [UIDREQUIRED]")
	if u := a.ok("l CAPABILITY"); strings.Count(u[0], " UIDONLY") != 1 {
		t.Fatalf("capability: %q", u)
	}
}
