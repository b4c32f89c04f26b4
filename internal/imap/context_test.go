package imap

import (
	"strings"
	"testing"
)

// TestContextPartial checks PARTIAL windows of SEARCH and SORT results
// (RFC 5267 section 4.4).
func TestContextPartial(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	if u := rc.ok("c CAPABILITY"); !strings.Contains(u[0], " CONTEXT=SEARCH ") || !strings.Contains(u[0], " CONTEXT=SORT ") {
		t.Fatalf("capability: %q", u)
	}
	rc.login()
	for range 10 {
		rc.appendMsg("INBOX", "", simpleMsg)
	}
	rc.ok("s SELECT INBOX")
	rc.ok(`f STORE 4 +FLAGS (\Seen)`)
	for _, tc := range []struct{ cmd, want string }{
		{"SEARCH RETURN (PARTIAL 3:5) ALL", `* ESEARCH (TAG "a") PARTIAL (3:5 3:5)`},
		{"SEARCH RETURN (PARTIAL 3:5) UNSEEN", `* ESEARCH (TAG "a") PARTIAL (3:5 3,5:6)`},
		{"UID SEARCH RETURN (PARTIAL 8:20 COUNT) ALL", `* ESEARCH (TAG "a") UID COUNT 10 PARTIAL (8:20 8:10)`},
		{"SEARCH RETURN (PARTIAL 5:3) ALL", `* ESEARCH (TAG "a") PARTIAL (3:5 3:5)`},
		{"SEARCH RETURN (PARTIAL 11:30) ALL", `* ESEARCH (TAG "a") PARTIAL (11:30 NIL)`},
		{"SEARCH RETURN (CONTEXT PARTIAL 1:1) ALL", `* ESEARCH (TAG "a") PARTIAL (1:1 1)`},
		{"SORT RETURN (PARTIAL 1:3) (REVERSE ARRIVAL) UTF-8 ALL", `* ESEARCH (TAG "a") PARTIAL (1:3 10,9,8)`},
		{"SEARCH RETURN (CONTEXT) 2:3", `* ESEARCH (TAG "a") ALL 2:3`},
	} {
		if u := rc.ok("a " + tc.cmd); len(u) != 1 || u[0] != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.cmd, u, tc.want)
		}
	}
	rc.expect("b SEARCH RETURN (PARTIAL 0:5) ALL", "b BAD")
	rc.expect("b SEARCH RETURN (PARTIAL) ALL", "b BAD")
	rc.expect("b SEARCH RETURN (PARTIAL 1:x) ALL", "b BAD")
}

// TestContextUpdate checks that UPDATE keeps a UID SEARCH or UID SORT
// result current with ADDTO and REMOVEFROM until CANCELUPDATE (RFC 5267
// sections 4.2 and 4.3).
func TestContextUpdate(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	for range 3 {
		rc.appendMsg("INBOX", "", simpleMsg)
	}
	other := e.raw(t)
	other.login()
	other.ok("s SELECT INBOX")
	rc.ok("s SELECT INBOX")
	if u := rc.ok("u UID SEARCH RETURN (UPDATE) UNSEEN"); len(u) != 1 || u[0] != `* ESEARCH (TAG "u") UID ALL 1:3` {
		t.Fatalf("search: %q", u)
	}
	if u := rc.ok("v UID SORT RETURN (UPDATE MIN) (REVERSE ARRIVAL) UTF-8 UNSEEN"); len(u) != 1 || u[0] != `* ESEARCH (TAG "v") UID MIN 3` {
		t.Fatalf("sort: %q", u)
	}
	// Sequence numbers are not kept updated.
	u := rc.ok("w SEARCH RETURN (UPDATE) ALL")
	if len(grep(u, `* NO [NOUPDATE "w"]`)) != 1 {
		t.Fatalf("search by sequence number: %q", u)
	}
	other.ok(`a STORE 2 +FLAGS (\Seen)`)
	other.appendMsg("INBOX", "", simpleMsg)
	u = rc.ok("n NOOP")
	for _, want := range []string{
		`* ESEARCH (TAG "u") UID REMOVEFROM (2 2) ADDTO (3 4)`,
		`* ESEARCH (TAG "v") UID REMOVEFROM (2 2) ADDTO (1 4)`,
	} {
		if len(grep(u, want)) != 1 {
			t.Errorf("no %q in %q", want, u)
		}
	}
	// Nothing changed: nothing sent.
	if u := rc.ok("n NOOP"); len(grep(u, "* ESEARCH")) != 0 {
		t.Errorf("updates without changes: %q", u)
	}
	rc.expect(`c CANCELUPDATE "zz"`, "c BAD")
	rc.ok(`c CANCELUPDATE "u"`)
	other.ok(`a STORE 1 +FLAGS (\Seen)`)
	u = rc.ok("n NOOP")
	if got := grep(u, "* ESEARCH"); len(got) != 1 || got[0] != `* ESEARCH (TAG "v") UID REMOVEFROM (3 1)` {
		t.Errorf("after CANCELUPDATE: %q", u)
	}
	// A new SELECT ends the updates.
	rc.ok("s SELECT INBOX")
	other.ok(`a STORE 3 +FLAGS (\Seen)`)
	if u := rc.ok("n NOOP"); len(grep(u, "* ESEARCH")) != 0 {
		t.Errorf("updates after SELECT: %q", u)
	}
	rc.expect(`c CANCELUPDATE "v"`, "c BAD")
}

// TestContextUpdateIdle checks that a kept search is updated during IDLE,
// as the mailbox's other changes are.
func TestContextUpdateIdle(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	rc.appendMsg("INBOX", "", simpleMsg)
	rc.ok("s SELECT INBOX")
	rc.ok("u UID SEARCH RETURN (UPDATE COUNT) UNSEEN")
	rc.send("i IDLE\r\n")
	if l := rc.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("idle: %q", l)
	}
	other := e.raw(t)
	other.login()
	other.appendMsg("INBOX", "", simpleMsg)
	for {
		l := rc.line()
		if l == `* ESEARCH (TAG "u") UID ADDTO (2 2)` {
			break
		}
		if strings.HasPrefix(l, "* ESEARCH") || !strings.HasPrefix(l, "* ") {
			t.Fatalf("during IDLE: %q", l)
		}
	}
	rc.send("DONE\r\n")
	if _, tagged := rc.until("i"); !strings.HasPrefix(tagged, "i OK") {
		t.Fatalf("idle end: %q", tagged)
	}
}
