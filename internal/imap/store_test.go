package imap

import (
	"strconv"
	"strings"
	"testing"
)

func TestStoreFlags(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	for range 3 {
		rc.appendMsg("INBOX", "", simpleMsg)
	}
	rc.ok("s SELECT INBOX")
	u := rc.ok(`a STORE 1:2 +FLAGS (\Seen $Important)`)
	u = u[2:] // FLAGS and PERMANENTFLAGS with the new keyword (keywords_test.go)
	if len(u) != 2 || u[0] != `* 1 FETCH (FLAGS (\Seen $Important \Recent))` {
		t.Fatalf("store +flags: %q", u)
	}
	u = rc.ok(`b UID STORE 2 -FLAGS.SILENT \Seen`)
	if len(u) != 0 {
		t.Fatalf(".SILENT answered %q", u)
	}
	u = rc.ok(`c STORE 3 FLAGS (\Flagged \Draft)`)
	if len(u) != 1 || u[0] != `* 3 FETCH (FLAGS (\Flagged \Draft \Recent))` {
		t.Fatalf("store flags: %q", u)
	}
	u = rc.ok("d FETCH 1:* FLAGS")
	want := []string{`* 1 FETCH (FLAGS (\Seen $Important \Recent))`, `* 2 FETCH (FLAGS ($Important \Recent))`, `* 3 FETCH (FLAGS (\Flagged \Draft \Recent))`}
	if strings.Join(u, "\n") != strings.Join(want, "\n") {
		t.Fatalf("flags:\n%s", strings.Join(u, "\n"))
	}
	rc.expect(`e STORE 1 +FLAGS (\Bogus)`, "e BAD")
	rc.expect(`f STORE 9 +FLAGS (\Seen)`, "f BAD")
	rc.expect(`g STORE 1 SOMETHING (\Seen)`, "g BAD")
}

func TestStoreUnchangedSince(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	rc.appendMsg("INBOX", "", simpleMsg)
	rc.appendMsg("INBOX", "", simpleMsg)
	rc.ok("s SELECT INBOX (CONDSTORE)")
	u := rc.ok("a FETCH 1:2 (MODSEQ)")
	if len(u) != 2 || !strings.HasPrefix(u[0], "* 1 FETCH (MODSEQ (") {
		t.Fatalf("fetch modseq: %q", u)
	}
	m1 := max(modseqOf(t, u[0]), modseqOf(t, u[1]))

	rc.ok(`b STORE 1 +FLAGS.SILENT (\Answered)`)
	_, tagged := rc.cmd(`c STORE 1:2 (UNCHANGEDSINCE ` + strconv.FormatUint(m1, 10) + `) +FLAGS.SILENT (\Flagged)`)
	if !strings.HasPrefix(tagged, "c OK [MODIFIED 1]") {
		t.Fatalf("unchangedsince: %q", tagged)
	}
	u = rc.ok("d FETCH 1:2 (FLAGS)")
	if !strings.Contains(u[0], `FLAGS (\Answered \Recent)`) || !strings.Contains(u[1], `FLAGS (\Flagged \Recent)`) || !strings.Contains(u[1], "MODSEQ") {
		t.Fatalf("after conditional store: %q", u)
	}
	u = rc.ok("e SEARCH MODSEQ " + strconv.FormatUint(m1+1, 10))
	if len(u) != 1 || !strings.HasPrefix(u[0], "* SEARCH 1 2 (MODSEQ ") {
		t.Fatalf("search modseq: %q", u)
	}
	u = rc.ok("f FETCH 1:* (FLAGS) (CHANGEDSINCE " + strconv.FormatUint(m1, 10) + ")")
	if len(u) != 2 {
		t.Fatalf("changedsince: %q", u)
	}
}

// modseqOf returns the MODSEQ in a FETCH response line.
func modseqOf(t *testing.T, line string) uint64 {
	t.Helper()
	_, rest, _ := strings.Cut(line, "MODSEQ (")
	digits, _, _ := strings.Cut(rest, ")")
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		t.Fatalf("no MODSEQ in %q", line)
	}
	return n
}
