package imap

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// TestCondstoreEnablingAnnouncesHighest checks that the first
// CONDSTORE-enabling command of a session with a mailbox selected sends
// OK [HIGHESTMODSEQ] (RFC 7162 section 3.1), and only the first.
func TestCondstoreEnablingAnnouncesHighest(t *testing.T) {
	e := newTestEnv(t)
	setup := e.raw(t)
	setup.login()
	setup.appendMsg("INBOX", "", simpleMsg)
	setup.appendMsg("INBOX", "", simpleMsg)
	for _, tc := range []struct{ name, first, second string }{
		{"fetch", "a FETCH 1 (MODSEQ)", "b FETCH 2 (MODSEQ)"},
		{"search", "a SEARCH MODSEQ 1", "b SEARCH MODSEQ 1"},
		{"store", `a STORE 1 (UNCHANGEDSINCE 1000) +FLAGS (\Seen)`, `b STORE 1 (UNCHANGEDSINCE 1000) -FLAGS (\Seen)`},
		{"fetch changedsince", "a FETCH 1:* (FLAGS) (CHANGEDSINCE 1)", "b FETCH 1 (MODSEQ)"},
		{"enable", "a ENABLE CONDSTORE", "b FETCH 1 (MODSEQ)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := e.raw(t)
			rc.login()
			sel := rc.ok("s SELECT INBOX")
			_, highest := selectState(t, sel)
			u := rc.ok(tc.first)
			got := grep(u, "* OK [HIGHESTMODSEQ ")
			var n uint64
			if len(got) != 1 {
				t.Fatalf("%s: no HIGHESTMODSEQ in %q", tc.first, u)
			}
			fmt.Sscanf(got[0], "* OK [HIGHESTMODSEQ %d]", &n)
			// At least what SELECT said and every MODSEQ just sent.
			for _, l := range u {
				if strings.Contains(l, "MODSEQ (") {
					highest = max(highest, modseqOf(t, l))
				}
			}
			if n < highest {
				t.Fatalf("%s: %q, want HIGHESTMODSEQ at least %d", tc.first, u, highest)
			}
			if u := rc.ok(tc.second); len(grep(u, "* OK [HIGHESTMODSEQ")) != 0 {
				t.Fatalf("%s: HIGHESTMODSEQ again: %q", tc.second, u)
			}
		})
	}
	// Selecting with CONDSTORE announces it already.
	rc := e.raw(t)
	rc.login()
	rc.ok("s SELECT INBOX (CONDSTORE)")
	if u := rc.ok("a FETCH 1 (MODSEQ)"); len(grep(u, "* OK [HIGHESTMODSEQ")) != 0 {
		t.Fatalf("HIGHESTMODSEQ after SELECT (CONDSTORE): %q", u)
	}
}

// TestESearchMinMaxModseq checks that ESEARCH MIN or MAX with a MODSEQ
// criterion reports the MODSEQ of the messages it returns, and ALL or COUNT
// that of every match (RFC 7162 section 3.1.5, RFC 4731 section 3.2).
func TestESearchMinMaxModseq(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	for range 3 {
		rc.appendMsg("INBOX", "", simpleMsg)
	}
	rc.ok("s SELECT INBOX (CONDSTORE)")
	rc.ok(`a STORE 1 +FLAGS (\Flagged)`)
	rc.ok(`b STORE 3 +FLAGS (\Flagged)`)
	rc.ok(`c STORE 2 +FLAGS (\Seen)`)
	u := rc.ok("f FETCH 1:3 (MODSEQ)")
	if len(u) != 3 {
		t.Fatalf("fetch: %q", u)
	}
	m1, m3 := modseqOf(t, u[0]), modseqOf(t, u[2])
	if m1 >= m3 {
		t.Fatalf("modseqs %d, %d", m1, m3)
	}
	crit := "MODSEQ " + strconv.FormatUint(m1, 10) + " FLAGGED"
	for _, tc := range []struct {
		ret  string
		want string
	}{
		{"(MIN)", fmt.Sprintf("MIN 1 MODSEQ %d", m1)},
		{"(MAX)", fmt.Sprintf("MAX 3 MODSEQ %d", m3)},
		{"(MIN MAX)", fmt.Sprintf("MIN 1 MAX 3 MODSEQ %d", m3)},
		{"(COUNT)", fmt.Sprintf("COUNT 2 MODSEQ %d", m3)},
		{"(MIN ALL)", fmt.Sprintf("MIN 1 ALL 1,3 MODSEQ %d", m3)},
	} {
		u := rc.ok("t SEARCH RETURN " + tc.ret + " " + crit)
		want := `* ESEARCH (TAG "t") ` + tc.want
		if len(u) != 1 || u[0] != want {
			t.Errorf("SEARCH RETURN %s: got %q, want %q", tc.ret, u, want)
		}
	}
}
