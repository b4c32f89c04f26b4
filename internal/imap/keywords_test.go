package imap

import (
	"fmt"
	"strings"
	"testing"

	"casella/internal/store"
)

// TestKeywordsInFlags checks that SELECT lists the mailbox's keywords and
// that every session with the mailbox selected gets FLAGS and
// PERMANENTFLAGS again before it is shown a keyword new to the mailbox.
func TestKeywordsInFlags(t *testing.T) {
	e := newTestEnv(t)
	a, b := e.raw(t), e.raw(t)
	a.login()
	b.login()
	a.appendMsg("INBOX", `$Forwarded \Seen`, simpleMsg)
	a.appendMsg("INBOX", "", simpleMsg)
	u := a.ok("s SELECT INBOX")
	if len(grep(u, `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)`)) != 1 ||
		len(grep(u, `* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)]`)) != 1 {
		t.Fatalf("select:\n%s", strings.Join(u, "\n"))
	}
	b.ok("s SELECT INBOX")

	u = a.ok(`f STORE 2 +FLAGS ($Label1)`)
	want := []string{
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded $Label1)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded $Label1 \*)] Flags permitted`,
		`* 2 FETCH (FLAGS ($Label1 \Recent))`,
	}
	if strings.Join(u, "\n") != strings.Join(want, "\n") {
		t.Fatalf("store of a new keyword:\n%s", strings.Join(u, "\n"))
	}
	if u := a.ok(`g STORE 1 +FLAGS ($label1)`); len(grep(u, "* FLAGS")) != 0 {
		t.Fatalf("FLAGS again for a keyword the client knows: %q", u)
	}
	u = b.ok("n NOOP")
	if len(u) < 3 || u[0] != want[0] || !strings.HasPrefix(u[1], "* OK [PERMANENTFLAGS (") || !strings.HasPrefix(u[2], "* ") || !strings.Contains(u[2], " FETCH ") {
		t.Fatalf("other session:\n%s", strings.Join(u, "\n"))
	}
	// .SILENT writes no FETCH, but the client still learns the keyword.
	if u := a.ok(`h STORE 1 +FLAGS.SILENT (Work)`); len(grep(u, "* FLAGS (")) != 1 {
		t.Fatalf("silent store of a new keyword: %q", u)
	}
	if u := b.ok("x EXAMINE INBOX"); len(grep(u, `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded $Label1 Work)`)) != 1 {
		t.Fatalf("examine after new keywords:\n%s", strings.Join(u, "\n"))
	}
}

// TestKeywordLimit checks that a STORE bringing the mailbox past its
// keyword limit is refused with LIMIT, and that PERMANENTFLAGS then drops
// \* (RFC 9051 section 7.1).
func TestKeywordLimit(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	rc.appendMsg("INBOX", "", simpleMsg)
	rc.ok("s SELECT INBOX")
	var kws []string
	for i := range store.MaxMailboxKeywords + 1 {
		kws = append(kws, fmt.Sprintf("k%d", i))
	}
	rc.expect("f STORE 1 +FLAGS.SILENT ("+strings.Join(kws, " ")+")", "f NO [LIMIT]")
	rc.ok("g STORE 1 +FLAGS.SILENT (" + strings.Join(kws[1:], " ") + ")")
	u := rc.ok("s SELECT INBOX")
	if p := grep(u, "* OK [PERMANENTFLAGS"); len(p) != 1 || strings.Contains(p[0], `\*`) {
		t.Fatalf("PERMANENTFLAGS at the limit: %.200q", p)
	}
}
