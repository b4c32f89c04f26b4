package imap

import (
	"fmt"
	"strings"
	"testing"
)

// replaceCmd is a REPLACE command line with its message as a
// non-synchronizing literal.
func replaceCmd(tag, cmd, msg string) string {
	return fmt.Sprintf("%s %s {%d+}\r\n%s", tag, cmd, len(msg), msg)
}

// TestReplace checks REPLACE and UID REPLACE (RFC 8508): the new message
// is stored, APPENDUID comes before the EXPUNGE of the old one, and a
// refused REPLACE keeps the old message.
func TestReplace(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	rc.appendMsg("Drafts", `\Draft`, simpleMsg)
	rc.appendMsg("Drafts", `\Draft`, simpleMsg)
	var m viewModel
	u := m.checked(t, rc, "s SELECT Drafts")
	uidValidity, _ := selectState(t, u)

	edited := strings.Replace(simpleMsg, "Hello there", "Hello again", 1)
	u = m.checked(t, rc, replaceCmd("r", `REPLACE 1 Drafts (\Draft)`, edited))
	want := []string{fmt.Sprintf("* OK [APPENDUID %d 3] Replacement message stored", uidValidity), "* 1 EXPUNGE", "* 2 EXISTS", "* 2 RECENT"}
	if strings.Join(u, "\n") != strings.Join(want, "\n") {
		t.Fatalf("replace:\n%s", strings.Join(u, "\n"))
	}
	u = rc.ok("f UID FETCH 1:* (UID ENVELOPE)")
	if len(u) != 2 || !strings.HasPrefix(u[0], "* 1 FETCH (UID 2 ") || !strings.HasPrefix(u[1], "* 2 FETCH (UID 3 ") || !strings.Contains(u[1], "Hello again") {
		t.Fatalf("after replace:\n%s", strings.Join(u, "\n"))
	}

	// Into another mailbox, by UID.
	u = m.checked(t, rc, replaceCmd("r", "UID REPLACE 3 Sent", edited))
	if len(u) != 2 || !strings.HasPrefix(u[0], "* OK [APPENDUID ") || !strings.HasSuffix(u[0], " 1] Replacement message stored") || u[1] != "* 2 EXPUNGE" {
		t.Fatalf("uid replace into Sent:\n%s", strings.Join(u, "\n"))
	}
	if u := rc.ok("t STATUS Sent (MESSAGES)"); u[0] != "* STATUS Sent (MESSAGES 1)" {
		t.Fatalf("Sent after replace: %q", u)
	}

	// Refusals keep the old message.
	rc.send(replaceCmd("a", "REPLACE 2 Drafts", edited) + "\r\n")
	if _, tagged := rc.until("a"); !strings.HasPrefix(tagged, "a BAD") {
		t.Fatalf("replace of a missing sequence number: %q", tagged)
	}
	rc.send(replaceCmd("b", "UID REPLACE 99 Drafts", edited) + "\r\n")
	if _, tagged := rc.until("b"); !strings.HasPrefix(tagged, "b NO") {
		t.Fatalf("replace of a missing UID: %q", tagged)
	}
	rc.send(replaceCmd("c", "REPLACE 1 Nowhere", edited) + "\r\n")
	if _, tagged := rc.until("c"); !strings.HasPrefix(tagged, "c NO [TRYCREATE]") {
		t.Fatalf("replace into a missing mailbox: %q", tagged)
	}
	rc.ok("x EXAMINE Drafts")
	rc.send(replaceCmd("d", "REPLACE 1 Drafts", edited) + "\r\n")
	if _, tagged := rc.until("d"); !strings.HasPrefix(tagged, "d NO") {
		t.Fatalf("replace in a read-only mailbox: %q", tagged)
	}
	if u := rc.ok("t STATUS Drafts (MESSAGES)"); u[0] != "* STATUS Drafts (MESSAGES 1)" {
		t.Fatalf("Drafts after refused replaces: %q", u)
	}
	if u := rc.ok("k CAPABILITY"); strings.Count(u[0], " REPLACE") != 1 {
		t.Fatalf("capability: %q", u)
	}
}
