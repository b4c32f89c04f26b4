package imap

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestRecentRev1(t *testing.T) {
	e := newTestEnv(t)
	a, b := e.raw(t), e.raw(t)
	a.login()
	b.login()
	a.appendMsg("INBOX", "", simpleMsg) // no session had INBOX selected: recent for the first
	u := a.ok("s SELECT INBOX")
	if len(grep(u, "* 1 RECENT")) != 1 {
		t.Fatalf("select: %q", u)
	}
	b.appendMsg("INBOX", "", simpleMsg)
	u = a.ok("n NOOP")
	if strings.Join(u, "\n") != "* 2 EXISTS\n* 2 RECENT" {
		t.Fatalf("noop: %q", u)
	}
	u = a.ok("f FETCH 1:2 (FLAGS)")
	if u[0] != `* 1 FETCH (FLAGS (\Recent))` || u[1] != `* 2 FETCH (FLAGS (\Recent))` {
		t.Fatalf("fetch: %q", u)
	}
	a.ok(`f STORE 1 +FLAGS.SILENT (\Seen)`)
	if u := a.ok("r SEARCH RECENT"); u[0] != "* SEARCH 1 2" {
		t.Fatalf("search recent: %q", u)
	}
	if u := a.ok("o SEARCH OLD"); u[0] != "* SEARCH" {
		t.Fatalf("search old: %q", u)
	}
	if u := a.ok("w SEARCH NEW"); u[0] != "* SEARCH 2" {
		t.Fatalf("search new: %q", u)
	}
	// The message was a's first: b's session does not get \Recent.
	u = b.ok("s SELECT INBOX")
	if len(grep(u, "* 0 RECENT")) != 1 {
		t.Fatalf("second session: %q", u)
	}
	// Not seen by any session yet: STATUS counts it, EXAMINE does not
	// take it.
	b.ok("u UNSELECT")
	b.appendMsg("INBOX", "", simpleMsg)
	if u := b.ok("t STATUS INBOX (RECENT)"); u[0] != "* STATUS INBOX (RECENT 1)" {
		t.Fatalf("status: %q", u)
	}
	if u := b.ok("x EXAMINE INBOX"); len(grep(u, "* 1 RECENT")) != 1 {
		t.Fatalf("examine: %q", u)
	}
	if u := a.ok("n NOOP"); strings.Join(u, "\n") != "* 3 EXISTS\n* 3 RECENT" {
		t.Fatalf("noop after examine: %q", u)
	}
}

func TestRev2(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	if u := rc.ok("c CAPABILITY"); !strings.Contains(u[0], " IMAP4rev2 ") {
		t.Fatalf("capability: %q", u)
	}
	rc.login()
	rc.ok(`c CREATE "Zürich"`)
	rc.appendMsg("INBOX", "", simpleMsg)
	rc.appendMsg("INBOX", `\Seen`, simpleMsg)
	if u := rc.ok("l LIST \"\" Z*"); u[0] != `* LIST (\HasNoChildren) "/" Z&APw-rich` {
		t.Fatalf("rev1 list: %q", u)
	}
	if u := rc.ok("e ENABLE IMAP4rev2"); u[0] != "* ENABLED IMAP4rev2" {
		t.Fatalf("enable: %q", u)
	}
	if u := rc.ok("m LIST \"\" Z*"); u[0] != `* LIST (\HasNoChildren) "/" "Zürich"` {
		t.Fatalf("rev2 list: %q", u)
	}
	u := rc.ok("s SELECT inbox")
	if len(grep(u, "* LIST () \"/\" INBOX")) != 1 || len(grep(u, "* 0 RECENT")) != 0 {
		t.Fatalf("select: %q", u)
	}
	if u := rc.ok("a SEARCH UNSEEN"); u[0] != `* ESEARCH (TAG "a") ALL 1` {
		t.Fatalf("search: %q", u)
	}
	if u := rc.ok("b UID SEARCH DRAFT"); u[0] != `* ESEARCH (TAG "b") UID` {
		t.Fatalf("empty search: %q", u)
	}
	if u := rc.ok("f FETCH 1 (FLAGS)"); u[0] != "* 1 FETCH (FLAGS ())" {
		t.Fatalf("fetch: %q", u)
	}
	if u := rc.ok("t STATUS INBOX (DELETED MESSAGES)"); u[0] != "* STATUS INBOX (DELETED 0 MESSAGES 2)" {
		t.Fatalf("status: %q", u)
	}
	if u := rc.ok(`x SELECT "Zürich"`); u[0] != "* OK [CLOSED] Previous mailbox closed" {
		t.Fatalf("select again: %q", u)
	}
}

// TestRev2GoIMAP lets go-imap's client pick IMAP4rev2 itself.
func TestRev2GoIMAP(t *testing.T) {
	e := newTestEnv(t)
	c := e.client(t, nil)
	if !c.Caps().Has(imap.CapIMAP4rev2) {
		t.Fatalf("caps %v", c.Caps())
	}
	if _, err := c.Enable(imap.CapIMAP4rev2).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Résumés", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("Résumés", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	app := c.Append("Résumés", int64(len(simpleMsg)), nil)
	app.Write([]byte(simpleMsg))
	app.Close()
	if _, err := app.Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{}, &imap.SearchOptions{ReturnCount: true, ReturnAll: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.Count != 1 {
		t.Fatalf("search: %+v", data)
	}
	st, err := c.Status("Résumés", &imap.StatusOptions{NumDeleted: true}).Wait()
	if err != nil || st.NumDeleted == nil || *st.NumDeleted != 0 {
		t.Fatalf("status: %+v %v", st, err)
	}
}
