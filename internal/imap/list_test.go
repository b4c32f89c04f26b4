package imap

import (
	"strings"
	"testing"
)

// subscribedTree makes Fruit/Apple, Fruit/Banana (subscribed), Vegetable
// and Vegetable/Broccoli (both subscribed) and a subscribed Old that was
// deleted since.
func subscribedTree(t *testing.T, rc *rawConn) {
	for _, n := range []string{"Fruit/Apple", "Fruit/Banana", "Vegetable/Broccoli", "Old"} {
		rc.ok("c CREATE " + n)
	}
	for _, n := range []string{"Fruit/Banana", "Vegetable", "Vegetable/Broccoli", "Old"} {
		rc.ok("s SUBSCRIBE " + n)
	}
	rc.ok("d DELETE Old")
}

// without drops the default mailboxes' lines.
func without(lines []string, names ...string) []string {
	var out []string
	for _, l := range lines {
		keep := true
		for _, n := range names {
			if strings.HasSuffix(l, `"/" `+n) {
				keep = false
			}
		}
		if keep {
			out = append(out, l)
		}
	}
	return out
}

var defaults = []string{"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"}

// TestListExtendedSubscribed checks LIST-EXTENDED's SUBSCRIBED and
// RECURSIVEMATCH selection options (RFC 5258 sections 3, 3.4, 3.5).
func TestListExtendedSubscribed(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	subscribedTree(t, rc)

	rc.expect(`a LIST (RECURSIVEMATCH) "" ""`, "a BAD")
	rc.expect(`b LIST (RECURSIVEMATCH REMOTE) "" *`, "b BAD")
	rc.ok("n NOOP") // the session goes on

	u := without(rc.ok(`c LIST (SUBSCRIBED RECURSIVEMATCH) "" %`), defaults...)
	want := []string{
		`* LIST (\HasChildren) "/" Fruit ("CHILDINFO" ("SUBSCRIBED"))`,
		`* LIST (\NonExistent \Subscribed) "/" Old`,
		`* LIST (\HasChildren \Subscribed) "/" Vegetable ("CHILDINFO" ("SUBSCRIBED"))`,
	}
	if strings.Join(u, "\n") != strings.Join(want, "\n") {
		t.Fatalf("LIST (SUBSCRIBED RECURSIVEMATCH) %%:\n%s", strings.Join(u, "\n"))
	}
	u = without(rc.ok(`d LIST (SUBSCRIBED) "" *`), defaults...)
	want = []string{
		`* LIST (\HasNoChildren \Subscribed) "/" Fruit/Banana`,
		`* LIST (\NonExistent \Subscribed) "/" Old`,
		`* LIST (\HasChildren \Subscribed) "/" Vegetable`,
		`* LIST (\HasNoChildren \Subscribed) "/" Vegetable/Broccoli`,
	}
	if strings.Join(u, "\n") != strings.Join(want, "\n") {
		t.Fatalf("LIST (SUBSCRIBED) *:\n%s", strings.Join(u, "\n"))
	}
	// Plain LIST lists mailboxes only; RETURN (SUBSCRIBED) marks them.
	u = without(rc.ok(`e LIST "" * RETURN (SUBSCRIBED)`), defaults...)
	want = []string{
		`* LIST (\HasChildren) "/" Fruit`,
		`* LIST (\HasNoChildren) "/" Fruit/Apple`,
		`* LIST (\HasNoChildren \Subscribed) "/" Fruit/Banana`,
		`* LIST (\HasChildren \Subscribed) "/" Vegetable`,
		`* LIST (\HasNoChildren \Subscribed) "/" Vegetable/Broccoli`,
	}
	if strings.Join(u, "\n") != strings.Join(want, "\n") {
		t.Fatalf("LIST RETURN (SUBSCRIBED):\n%s", strings.Join(u, "\n"))
	}
	// A subscription without its mailbox can be removed.
	rc.ok("f UNSUBSCRIBE Old")
	if u := rc.ok(`g LIST (SUBSCRIBED) "" Old`); len(u) != 0 {
		t.Fatalf("unsubscribed Old still listed: %q", u)
	}
	rc.expect("h UNSUBSCRIBE Old", "h NO")
}

// TestLsubNoselectParent checks that LSUB with "%" returns the parent of
// a subscribed mailbox that "%" hides, with \Noselect when the parent is
// not subscribed (RFC 3501 section 6.3.9).
func TestLsubNoselectParent(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	subscribedTree(t, rc)
	u := without(rc.ok(`a LSUB "" %`), defaults...)
	want := []string{
		`* LSUB (\Noselect) "/" Fruit`,
		`* LSUB (\Noselect) "/" Old`,
		`* LSUB (\HasChildren) "/" Vegetable`,
	}
	if strings.Join(u, "\n") != strings.Join(want, "\n") {
		t.Fatalf(`LSUB "" %%:`+"\n%s", strings.Join(u, "\n"))
	}
	u = without(rc.ok(`b LSUB "" *`), defaults...)
	want = []string{
		`* LSUB (\HasNoChildren) "/" Fruit/Banana`,
		`* LSUB (\Noselect) "/" Old`,
		`* LSUB (\HasChildren) "/" Vegetable`,
		`* LSUB (\HasNoChildren) "/" Vegetable/Broccoli`,
	}
	if strings.Join(u, "\n") != strings.Join(want, "\n") {
		t.Fatalf(`LSUB "" *:`+"\n%s", strings.Join(u, "\n"))
	}
	if u := rc.ok(`c LSUB Fruit/ %`); strings.Join(u, "\n") != `* LSUB (\HasNoChildren) "/" Fruit/Banana` {
		t.Fatalf("LSUB Fruit/ %%: %q", u)
	}
}
