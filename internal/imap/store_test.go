package imap

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"casella/internal/store"
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

// changeReads counts the store's change log reads.
type changeReads struct {
	store.Store
	n atomic.Int64
}

func (s *changeReads) Changes(ctx context.Context, acct store.Account, mailbox int64, since uint64, limit int) ([]store.Change, uint64, error) {
	s.n.Add(1)
	return s.Store.Changes(ctx, acct, mailbox, since, limit)
}

// TestStoreSkipsLogRead: a STORE that finds the account where the
// session's view last was needs no read of the change log after it, and
// one that finds another session's change still reports it.
func TestStoreSkipsLogRead(t *testing.T) {
	var reads *changeReads
	e := newTestEnv(t, func(s *Server) {
		reads = &changeReads{Store: s.Store}
		s.Store = reads
	})
	rc := e.raw(t)
	rc.login()
	for range 3 {
		rc.appendMsg("INBOX", "", simpleMsg)
	}
	rc.ok("s SELECT INBOX (CONDSTORE)")
	for i, cmd := range []string{`a STORE 1 +FLAGS (\Seen)`, `b UID STORE 2 +FLAGS.SILENT ($Label1)`, `c STORE 1:3 -FLAGS (\Seen)`} {
		before := reads.n.Load()
		u := rc.ok(cmd)
		if n := reads.n.Load() - before; n != 0 {
			t.Errorf("STORE %d read the change log %d times", i, n)
		}
		if i == 0 && (len(u) != 1 || !strings.HasPrefix(u[0], `* 1 FETCH (FLAGS (\Seen \Recent) MODSEQ (`)) {
			t.Fatalf("store: %q", u)
		}
	}

	other := e.raw(t)
	other.login()
	other.ok("o SELECT INBOX")
	other.ok(`o2 STORE 3 +FLAGS.SILENT (\Flagged)`)
	before := reads.n.Load()
	u := rc.ok(`d STORE 1 +FLAGS (\Answered)`)
	if reads.n.Load() == before {
		t.Error("a STORE after another session's change did not read the change log")
	}
	got := strings.Join(u, "\n")
	if !strings.Contains(got, `* 1 FETCH (FLAGS (\Answered \Recent) MODSEQ (`) || !strings.Contains(got, `* 3 FETCH (UID 3 FLAGS (\Flagged \Recent) MODSEQ (`) {
		t.Fatalf("store after another session's change: %q", u)
	}
	// The view is current again: the next STORE skips the read.
	before = reads.n.Load()
	rc.ok(`e STORE 2 +FLAGS.SILENT (\Seen)`)
	if n := reads.n.Load() - before; n != 0 {
		t.Errorf("STORE after the catch-up read the change log %d times", n)
	}
	u = rc.ok("f FETCH 1:3 (FLAGS)")
	want := []string{`FLAGS (\Answered \Recent)`, `FLAGS (\Seen $Label1 \Recent)`, `FLAGS (\Flagged \Recent)`}
	for i, w := range want {
		if len(u) != len(want) || !strings.HasPrefix(u[i], fmt.Sprintf("* %d FETCH (", i+1)) || !strings.Contains(u[i], w) {
			t.Fatalf("flags: %q, want %q", u, want)
		}
	}
}
