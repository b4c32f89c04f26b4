package imap

import (
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestListAndMailboxes(t *testing.T) {
	e := newTestEnv(t)
	c := e.client(t, nil)
	for _, name := range []string{"Projects/Casella", "Zürich"} {
		if err := c.Create(name, nil).Wait(); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	if err := c.Create("Projects", nil).Wait(); err == nil {
		t.Fatal("creating an existing mailbox succeeded")
	}
	list, err := c.List("", "*", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true, UIDNext: true}}).Collect()
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	byName := map[string]*imap.ListData{}
	for _, l := range list {
		byName[l.Mailbox] = l
	}
	for _, want := range []string{"INBOX", "Sent", "Trash", "Projects", "Projects/Casella", "Zürich"} {
		if byName[want] == nil {
			t.Fatalf("LIST * lacks %q: %v", want, slices.Collect(mapKeys(byName)))
		}
	}
	if !slices.Contains(byName["Sent"].Attrs, imap.MailboxAttrSent) || !slices.Contains(byName["Projects"].Attrs, imap.MailboxAttrHasChildren) {
		t.Fatalf("attributes: Sent %v, Projects %v", byName["Sent"].Attrs, byName["Projects"].Attrs)
	}
	if byName["INBOX"].Status == nil || byName["INBOX"].Status.UIDNext == 0 {
		t.Fatalf("LIST-STATUS missing: %+v", byName["INBOX"])
	}
	top, err := c.List("", "%", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range top {
		if strings.Contains(l.Mailbox, "/") {
			t.Fatalf("%% matched %q", l.Mailbox)
		}
	}
	if err := c.Rename("Projects", "Work", nil).Wait(); err != nil {
		t.Fatalf("rename: %v", err)
	}
	st, err := c.Status("Work/Casella", &imap.StatusOptions{NumMessages: true, UIDValidity: true, Size: true}).Wait()
	if err != nil || *st.NumMessages != 0 || st.UIDValidity == 0 {
		t.Fatalf("status after rename: %+v %v", st, err)
	}
	if err := c.Delete("Work/Casella").Wait(); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := c.Status("Work/Casella", &imap.StatusOptions{NumMessages: true}).Wait(); err == nil || !strings.Contains(err.Error(), "NONEXISTENT") && !strings.Contains(err.Error(), "No such") {
		t.Fatalf("status of deleted mailbox: %v", err)
	}
	if err := c.Subscribe("Zürich").Wait(); err != nil {
		t.Fatal(err)
	}
	subs, err := c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil || !slices.ContainsFunc(subs, func(l *imap.ListData) bool { return l.Mailbox == "Zürich" }) {
		t.Fatalf("subscribed list: %v %v", subs, err)
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestListRaw(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	rc.ok("c CREATE Z&APw-rich")
	u := rc.ok(`a LIST "" ""`)
	if len(u) != 1 || u[0] != `* LIST (\Noselect) "/" ""` {
		t.Fatalf("delimiter request: %q", u)
	}
	u = rc.ok(`b LSUB "" *`)
	for _, l := range u {
		if !strings.HasPrefix(l, "* LSUB (") {
			t.Fatalf("lsub line %q", l)
		}
	}
	u = rc.ok(`d LIST "" Z*`)
	if len(u) != 1 || u[0] != `* LIST (\HasNoChildren) "/" Z&APw-rich` {
		t.Fatalf("modified UTF-7 listing: %q", u)
	}
	u = rc.ok(`e LIST (SPECIAL-USE) "" *`)
	if len(u) != 5 {
		t.Fatalf("special-use list: %q", u)
	}
	u = rc.ok("f NAMESPACE")
	if len(u) != 1 || u[0] != `* NAMESPACE (("" "/")) NIL NIL` {
		t.Fatalf("namespace %q", u)
	}
	rc.expect("g SELECT nosuch", "g NO [NONEXISTENT]")
	rc.expect("h DELETE INBOX", "h NO [CANNOT]")
	rc.expect("i CREATE inbox", "i NO [ALREADYEXISTS]")
	u = rc.ok("j STATUS INBOX (MESSAGES UIDNEXT UNSEEN DELETED SIZE HIGHESTMODSEQ)")
	if len(u) != 1 || !strings.HasPrefix(u[0], "* STATUS INBOX (MESSAGES 0 UIDNEXT 1 UNSEEN 0 DELETED 0 SIZE 0 HIGHESTMODSEQ ") {
		t.Fatalf("status %q", u)
	}
}

func TestSelectResponses(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	rc.appendMsg("INBOX", `\Seen`, simpleMsg)
	u, tagged := rc.cmd("s SELECT INBOX (CONDSTORE)")
	joined := strings.Join(u, "\n")
	for _, want := range []string{"* FLAGS (", "* OK [PERMANENTFLAGS (", "* 1 EXISTS", "* 1 RECENT", "* OK [UIDVALIDITY ", "* OK [UIDNEXT 2]", "* OK [HIGHESTMODSEQ "} {
		if !strings.Contains(joined, want) {
			t.Errorf("SELECT lacks %q:\n%s", want, joined)
		}
	}
	if tagged != "s OK [READ-WRITE] SELECT completed" {
		t.Fatalf("tagged %q", tagged)
	}
	_, tagged = rc.cmd("e EXAMINE INBOX")
	if !strings.HasPrefix(tagged, "e OK [READ-ONLY]") {
		t.Fatalf("examine %q", tagged)
	}
	rc.ok("u UNSELECT")
	rc.expect("f FETCH 1 FLAGS", "f BAD")
	rc.ok("s2 SELECT INBOX")
	rc.ok(`st STORE 1 +FLAGS.SILENT (\Deleted)`)
	rc.ok("c CLOSE")
	u = rc.ok("t STATUS INBOX (MESSAGES)")
	if u[0] != "* STATUS INBOX (MESSAGES 0)" {
		t.Fatalf("CLOSE did not expunge: %q", u)
	}
}

// TestBadUTF7Name checks that a well-formed command naming a mailbox that
// is not valid modified UTF-7 (RFC 3501 section 5.1.3) is refused with NO:
// the command is valid, the name is not (RFC 9051 section 7.1).
func TestBadUTF7Name(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	for _, cmd := range []string{
		`a CREATE "&Jjo"`,
		`b SELECT "&Jjo!"`,
		`c STATUS "a&AGE-" (MESSAGES)`,
		`d RENAME INBOX "&U,BTFw"`,
		`e LIST "" "&-&"`,
	} {
		tag, _, _ := strings.Cut(cmd, " ")
		rc.expect(cmd, tag+" NO ")
	}
	rc.ok("f NOOP")
}
