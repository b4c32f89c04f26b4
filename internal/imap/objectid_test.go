package imap

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// field returns the value after "NAME " in a response line, up to the
// next space or closing parenthesis outside parentheses.
func field(line, name string) string {
	_, rest, ok := strings.Cut(line, name+" ")
	if !ok {
		return ""
	}
	depth := 0
	for i, r := range rest {
		switch r {
		case '(':
			depth++
		case ')':
			if depth == 0 {
				return rest[:i]
			}
			depth--
			if depth == 0 {
				return rest[:i+1]
			}
		case ' ':
			if depth == 0 {
				return rest[:i]
			}
		}
	}
	return rest
}

func TestObjectID(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	_, tagged := rc.cmd("c CREATE Projects")
	id := field(tagged, "[MAILBOXID")
	if !strings.HasPrefix(tagged, "c OK [MAILBOXID (M") {
		t.Fatalf("create: %q", tagged)
	}
	if u := rc.ok("s STATUS Projects (MAILBOXID)"); u[0] != "* STATUS Projects (MAILBOXID "+id+")" {
		t.Fatalf("status: %q, want id %s", u, id)
	}
	rc.ok("r RENAME Projects Old")
	if u := rc.ok("x SELECT Old"); len(grep(u, "* OK [MAILBOXID "+id+"]")) != 1 {
		t.Fatalf("select after rename: %q, want id %s", u, id)
	}
	rc.appendMsg("Old", "", simpleMsg)
	rc.appendMsg("Old", "", simpleMsg)
	rc.ok("n NOOP")
	u := rc.ok("f FETCH 1:2 (EMAILID THREADID)")
	e1, e2 := field(u[0], "EMAILID"), field(u[1], "EMAILID")
	if !strings.HasPrefix(e1, "(E") || e1 == e2 || field(u[0], "THREADID") == "" {
		t.Fatalf("fetch: %q", u)
	}
	u = rc.ok("g SEARCH EMAILID " + strings.Trim(e2, "()"))
	if u[0] != "* SEARCH 2" {
		t.Fatalf("search emailid: %q", u)
	}
	// A copy keeps its EMAILID (RFC 8474 section 5.1).
	rc.ok("h COPY 2 INBOX")
	rc.ok("i SELECT INBOX")
	if u := rc.ok("j FETCH 1 (EMAILID)"); field(u[0], "EMAILID") != e2 {
		t.Fatalf("copy's emailid: %q, want %s", u, e2)
	}
	if th := field(rc.ok("k FETCH 1 (THREADID)")[0], "THREADID"); th != "NIL" {
		if u := rc.ok("l SEARCH THREADID " + strings.Trim(th, "()")); u[0] != "* SEARCH 1" {
			t.Fatalf("search threadid: %q", u)
		}
	}
	rc.expect("m SEARCH EMAILID bad!id", "m BAD")
}

func TestSaveDateAndWithin(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	old := time.Now().Add(-48 * time.Hour).Format(dateTimeLayout)
	rc.send(fmt.Sprintf("a APPEND INBOX \"%s\" {%d+}\r\n%s\r\n", old, len(simpleMsg), simpleMsg))
	rc.until("a")
	rc.appendMsg("INBOX", "", simpleMsg)
	rc.ok("s SELECT INBOX")
	u := rc.ok("f FETCH 1 (SAVEDATE INTERNALDATE)")
	_, rest, _ := strings.Cut(u[0], `SAVEDATE "`)
	date, _, _ := strings.Cut(rest, `"`)
	saved, err := time.Parse(dateTimeLayout, date)
	if err != nil || time.Since(saved) > time.Hour {
		t.Fatalf("savedate: %q %v", u, err)
	}
	today := time.Now().Format("2-Jan-2006")
	if u := rc.ok("b SEARCH SAVEDON " + today); u[0] != "* SEARCH 1 2" {
		t.Fatalf("savedon: %q", u)
	}
	if u := rc.ok("c SEARCH SAVEDBEFORE 1-Jan-2000"); u[0] != "* SEARCH" {
		t.Fatalf("savedbefore: %q", u)
	}
	if u := rc.ok("d SEARCH SAVEDATESUPPORTED SAVEDSINCE 1-Jan-2000"); u[0] != "* SEARCH 1 2" {
		t.Fatalf("savedsince: %q", u)
	}
	if u := rc.ok("g SEARCH OLDER 86400"); u[0] != "* SEARCH 1" {
		t.Fatalf("older: %q", u)
	}
	if u := rc.ok("h SEARCH YOUNGER 3600"); u[0] != "* SEARCH 2" {
		t.Fatalf("younger: %q", u)
	}
	rc.expect("i SEARCH OLDER 0", "i BAD")
}

func TestSearchRes(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	for _, f := range []string{`\Seen`, "", `\Seen`, ""} {
		rc.appendMsg("INBOX", f, simpleMsg)
	}
	rc.ok("s SELECT INBOX")
	if u := rc.ok("a SEARCH RETURN (SAVE) UNSEEN"); len(u) != 0 {
		t.Fatalf("save alone answered %q", u)
	}
	if u := rc.ok("b FETCH $ (UID)"); strings.Join(u, "\n") != "* 2 FETCH (UID 2)\n* 4 FETCH (UID 4)" {
		t.Fatalf("fetch $: %q", u)
	}
	rc.ok(`c STORE $ +FLAGS.SILENT (\Deleted)`)
	if u := rc.ok("d SEARCH DELETED NOT $"); u[0] != "* SEARCH" {
		t.Fatalf("search $: %q", u)
	}
	// The result follows UIDs through an expunge of another message.
	rc.ok(`e STORE 1 +FLAGS.SILENT (\Deleted)`)
	rc.ok(`f UID STORE 2,4 -FLAGS.SILENT (\Deleted)`)
	rc.ok("g EXPUNGE")
	if u := rc.ok("h UID FETCH $ (FLAGS)"); strings.Join(u, "\n") != "* 1 FETCH (UID 2 FLAGS (\\Recent))\n* 3 FETCH (UID 4 FLAGS (\\Recent))" {
		t.Fatalf("uid fetch $ after expunge: %q", u)
	}
	// MIN and MAX save only themselves; a failed SEARCH empties it.
	if u := rc.ok("i SEARCH RETURN (SAVE MAX) ALL"); u[0] != `* ESEARCH (TAG "i") MAX 3` {
		t.Fatalf("save max: %q", u)
	}
	if u := rc.ok("j FETCH $ (UID)"); strings.Join(u, "\n") != "* 3 FETCH (UID 4)" {
		t.Fatalf("fetch saved max: %q", u)
	}
	rc.expect("k SEARCH RETURN (SAVE) BOGUS", "k BAD")
	if u := rc.ok("l FETCH $ (UID)"); len(u) != 0 {
		t.Fatalf("after failed search: %q", u)
	}
	rc.ok("m SEARCH RETURN (SAVE) ALL")
	rc.ok("n UNSELECT")
	rc.ok("o SELECT INBOX")
	if u := rc.ok("p FETCH $ (UID)"); len(u) != 0 {
		t.Fatalf("after reselect: %q", u)
	}
}
