package imap

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// selectState returns the UIDVALIDITY and HIGHESTMODSEQ of a SELECT's
// untagged responses.
func selectState(t *testing.T, u []string) (uidValidity uint32, highest uint64) {
	t.Helper()
	for _, l := range u {
		if n, err := fmt.Sscanf(l, "* OK [UIDVALIDITY %d]", &uidValidity); n == 1 && err == nil {
			continue
		}
		fmt.Sscanf(l, "* OK [HIGHESTMODSEQ %d]", &highest)
	}
	if uidValidity == 0 || highest == 0 {
		t.Fatalf("no UIDVALIDITY or HIGHESTMODSEQ in %q", u)
	}
	return uidValidity, highest
}

func grep(lines []string, prefix string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

func TestQresyncSelect(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	for range 5 {
		rc.appendMsg("INBOX", "", simpleMsg)
	}
	rc.expect("b SELECT INBOX (QRESYNC (1 1))", "b BAD") // not enabled yet
	u := rc.ok("e ENABLE QRESYNC")
	if len(u) != 1 || u[0] != "* ENABLED QRESYNC" {
		t.Fatalf("enable: %q", u)
	}
	uv, high := selectState(t, rc.ok("s SELECT INBOX"))

	// Another session changes the mailbox while this client is away.
	other := e.raw(t)
	other.login()
	other.ok("s SELECT INBOX")
	other.ok(`f STORE 2,4 +FLAGS.SILENT (\Deleted)`)
	other.ok("x EXPUNGE")
	other.ok(`g UID STORE 3 +FLAGS.SILENT (\Flagged)`)
	other.appendMsg("INBOX", "", simpleMsg)

	u = rc.ok(fmt.Sprintf("q SELECT INBOX (QRESYNC (%d %d 1:5))", uv, high))
	if u[0] != "* OK [CLOSED] Previous mailbox closed" {
		t.Fatalf("no CLOSED first: %q", u)
	}
	if v := grep(u, "* VANISHED"); len(v) != 1 || v[0] != "* VANISHED (EARLIER) 2,4" {
		t.Fatalf("vanished: %q", v)
	}
	// Only the known UIDs: the flagged message, not the new UID 6.
	f := grep(u, "* 2 FETCH")
	if len(f) != 1 || !strings.HasPrefix(f[0], `* 2 FETCH (UID 3 FLAGS (\Flagged) MODSEQ (`) || len(grep(u, "* 4 FETCH")) != 0 {
		t.Fatalf("fetch after resync: %q", u)
	}

	// Without known UIDs every change is reported; a wrong UIDVALIDITY
	// gets a plain SELECT.
	u = rc.ok(fmt.Sprintf("r EXAMINE INBOX (QRESYNC (%d %d))", uv, high))
	if len(grep(u, "* VANISHED (EARLIER) 2,4")) != 1 || len(grep(u, "* 4 FETCH (UID 6 ")) != 1 {
		t.Fatalf("resync without known uids: %q", u)
	}
	u = rc.ok(fmt.Sprintf("w SELECT INBOX (QRESYNC (%d %d 1:5 (1:3 1,3,5)))", uv+1, high))
	if len(grep(u, "* VANISHED")) != 0 || len(grep(u, "* 2 FETCH")) != 0 {
		t.Fatalf("resync despite a UIDVALIDITY mismatch: %q", u)
	}
	rc.expect("y SELECT INBOX (QRESYNC (1))", "y BAD")
}

func TestQresyncVanished(t *testing.T) {
	e := newTestEnv(t)
	rc, other := e.raw(t), e.raw(t)
	rc.login()
	other.login()
	for range 4 {
		rc.appendMsg("INBOX", "", simpleMsg)
	}
	rc.ok("e ENABLE QRESYNC")
	_, high := selectState(t, rc.ok("s SELECT INBOX"))
	other.ok("s SELECT INBOX")

	// Own expunge: VANISHED, and the new HIGHESTMODSEQ in the tagged OK.
	rc.ok(`a STORE 1 +FLAGS.SILENT (\Deleted)`)
	u, tagged := rc.cmd("b EXPUNGE")
	if strings.Join(u, "\n") != "* VANISHED 1" || !strings.HasPrefix(tagged, "b OK [HIGHESTMODSEQ ") {
		t.Fatalf("expunge: %q %q", u, tagged)
	}
	// Another session's expunge: VANISHED at NOOP, never during FETCH.
	other.ok(`c UID STORE 3 +FLAGS.SILENT (\Deleted)`)
	other.ok("d UID EXPUNGE 3")
	if u := rc.ok("f FETCH 1:* (UID)"); len(grep(u, "* VANISHED")) != 0 || len(grep(u, "* 3 FETCH (UID 4)")) != 1 {
		t.Fatalf("fetch while an expunge is pending: %q", u)
	}
	if u := rc.ok("n NOOP"); strings.Join(u, "\n") != "* VANISHED 3" {
		t.Fatalf("noop: %q", u)
	}

	// UID FETCH CHANGEDSINCE with VANISHED.
	u = rc.ok(fmt.Sprintf("g UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", high))
	if len(u) != 1 || u[0] != "* VANISHED (EARLIER) 1,3" {
		t.Fatalf("fetch vanished: %q", u)
	}
	rc.expect(fmt.Sprintf("h FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", high), "h BAD")
	rc.expect("i UID FETCH 1:* (FLAGS) (VANISHED)", "i BAD")
}

func TestCondstoreSilentStore(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	rc.appendMsg("INBOX", "", simpleMsg)
	rc.appendMsg("INBOX", "", simpleMsg)
	rc.ok("e ENABLE CONDSTORE")
	rc.ok("s SELECT INBOX")
	// .SILENT still reports the new MODSEQ (RFC 7162 section 3.1.3).
	u := rc.ok(`a STORE 1 +FLAGS.SILENT (\Seen)`)
	if len(u) != 1 || !strings.HasPrefix(u[0], "* 1 FETCH (MODSEQ (") {
		t.Fatalf("silent store: %q", u)
	}
	// UNCHANGEDSINCE 0 fails for every message.
	u, tagged := rc.cmd(`b STORE 1:2 (UNCHANGEDSINCE 0) +FLAGS (\Flagged)`)
	if !strings.HasPrefix(tagged, "b OK [MODIFIED 1:2]") {
		t.Fatalf("unchangedsince 0: %q", tagged)
	}
	for _, l := range u {
		if strings.Contains(l, `\Flagged`) {
			t.Fatalf("flag set despite UNCHANGEDSINCE 0: %q", u)
		}
	}
}

// TestQresyncGoIMAP drives CONDSTORE through go-imap's client.
func TestQresyncGoIMAP(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	for range 3 {
		rc.appendMsg("INBOX", "", simpleMsg)
	}
	c := e.client(t, nil)
	if !c.Caps().Has(imap.CapQResync) || !c.Caps().Has(imap.CapCondStore) {
		t.Fatalf("capabilities %v", c.Caps())
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.HighestModSeq == 0 {
		t.Fatal("no HIGHESTMODSEQ")
	}
	rc.ok("s SELECT INBOX")
	rc.ok(`f STORE 2 +FLAGS.SILENT ($Work)`)
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{Flags: true, ModSeq: true, ChangedSince: sel.HighestModSeq}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].SeqNum != 2 || msgs[0].ModSeq <= sel.HighestModSeq {
		t.Fatalf("changedsince: %+v", msgs)
	}
}

// TestQresyncImaplib runs a resynchronisation with Python's imaplib, as
// a client written against another library sees it.
func TestQresyncImaplib(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	for range 3 {
		rc.appendMsg("INBOX", "", simpleMsg)
	}
	rc.ok("s SELECT INBOX")
	uv, high := selectState(t, rc.ok("t SELECT INBOX"))
	rc.ok(`a STORE 2 +FLAGS.SILENT (\Deleted)`)
	rc.ok("b EXPUNGE")
	rc.ok(`c STORE 2 +FLAGS.SILENT (\Answered)`)

	host, port, _ := strings.Cut(e.addr, ":")
	script := `
import imaplib, sys
host, port, user, pw, uv, high = sys.argv[1:]
m = imaplib.IMAP4(host, int(port))
m.login(user, pw)
typ, data = m._simple_command('ENABLE', 'QRESYNC')
assert typ == 'OK', (typ, data)
assert m.untagged_responses.pop('ENABLED') == [b'QRESYNC']
typ, data = m._simple_command('SELECT', 'INBOX (QRESYNC (%s %s 1:3))' % (uv, high))
assert typ == 'OK', (typ, data)
m.state = 'SELECTED'  # imaplib tracks state only for its own select()
print('VANISHED', m.untagged_responses.get('VANISHED'))
print('FETCH', m.untagged_responses.get('FETCH'))
typ, data = m.uid('FETCH', '1:*', '(FLAGS) (CHANGEDSINCE %s VANISHED)' % high)
assert typ == 'OK', (typ, data)
print('UIDFETCH', data, m.untagged_responses.get('VANISHED'))
m.logout()
`
	out, err := exec.Command(py, "-c", script, host, port, testUser, testPass,
		strconv.FormatUint(uint64(uv), 10), strconv.FormatUint(high, 10)).CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	got := string(out)
	if !strings.Contains(got, "VANISHED [b'(EARLIER) 2']") || !strings.Contains(got, `UID 3 FLAGS (\\Answered) MODSEQ (`) ||
		!strings.Contains(got, "UIDFETCH [b'2 (UID 3 FLAGS (\\\\Answered) MODSEQ (") {
		t.Fatalf("imaplib saw:\n%s", got)
	}
}
