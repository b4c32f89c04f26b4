package imap

import (
	"slices"
	"strings"
	"testing"
)

// expectLines reads unsolicited lines until each of want has been seen,
// in order, failing on a tagged response or on a line matching none of
// want that is not in allowed.
func (rc *rawConn) expectLines(t *testing.T, want []string, allowed ...string) {
	t.Helper()
	var got []string
	for len(want) > 0 {
		l := rc.line()
		got = append(got, l)
		switch {
		case l == want[0]:
			want = want[1:]
		case !slices.Contains(allowed, l):
			t.Fatalf("unexpected %q, waiting for %q; got so far:\n%s", l, want[0], strings.Join(got, "\n"))
		}
	}
}

// TestNotify checks NOTIFY (RFC 5465): events of the selected mailbox
// with the requested FETCH items, STATUS for other mailboxes, LIST for
// names and subscriptions, all sent between commands without IDLE.
func TestNotify(t *testing.T) {
	e := newTestEnv(t)
	a, b := e.raw(t), e.raw(t)
	a.login()
	b.login()
	a.ok("s SELECT INBOX")
	a.ok("n NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange)) (personal (MessageNew MessageExpunge MailboxName SubscriptionChange))")

	b.appendMsg("INBOX", `\Flagged`, simpleMsg)
	a.expectLines(t, []string{"* 1 EXISTS", `* 1 FETCH (UID 1 FLAGS (\Flagged \Recent))`}, "* 1 RECENT")

	b.appendMsg("Archive", "", simpleMsg)
	l := a.line()
	if !strings.HasPrefix(l, "* STATUS Archive (MESSAGES 1 UIDNEXT 2 UIDVALIDITY ") || !strings.HasSuffix(l, " UNSEEN 1)") {
		t.Fatalf("status of another mailbox: %q", l)
	}

	b.ok("c CREATE Projects")
	a.expectLines(t, []string{`* LIST () "/" Projects`})
	b.ok("r RENAME Projects Work")
	a.expectLines(t, []string{`* LIST () "/" Work ("OLDNAME" (Projects))`})
	b.ok("d DELETE Work")
	a.expectLines(t, []string{`* LIST (\NonExistent) "/" Work`})
	b.ok("u UNSUBSCRIBE Sent")
	a.expectLines(t, []string{`* LIST () "/" Sent`})
	b.ok("u SUBSCRIBE Sent")
	a.expectLines(t, []string{`* LIST (\Subscribed) "/" Sent`})

	// The selected mailbox: expunges and flag changes of others.
	b.ok("s SELECT INBOX")
	b.ok(`f STORE 1 +FLAGS.SILENT (\Seen)`)
	a.expectLines(t, []string{`* 1 FETCH (UID 1 FLAGS (\Seen \Flagged \Recent))`})
	b.ok(`g STORE 1 +FLAGS.SILENT (\Deleted)`)
	b.ok("x EXPUNGE")
	a.expectLines(t, []string{"* 1 EXPUNGE"}, `* 1 FETCH (UID 1 FLAGS (\Seen \Flagged \Deleted \Recent))`)

	// NONE ends it: the next change is told only by a command.
	a.ok("m NOTIFY NONE")
	b.appendMsg("Archive", "", simpleMsg)
	if u := a.ok("o NOOP"); len(u) != 0 {
		t.Fatalf("events after NOTIFY NONE: %q", u)
	}
	if u := a.ok("k CAPABILITY"); strings.Count(u[0], " NOTIFY") != 1 {
		t.Fatalf("capability: %q", u)
	}
}

// TestNotifyStatusAndErrors checks NOTIFY SET STATUS, and the refusals of
// section 5: events that must go together, fetch items outside the
// selected mailbox, and unsupported events.
func TestNotifyStatusAndErrors(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	rc.appendMsg("Archive", "", simpleMsg)
	rc.ok("s SELECT INBOX")
	u := rc.ok("n NOTIFY SET STATUS (personal (MessageNew MessageExpunge))")
	if len(u) != 5 || len(grep(u, "* STATUS INBOX")) != 0 || len(grep(u, "* STATUS Archive (MESSAGES 1 UIDNEXT 2 ")) != 1 {
		t.Fatalf("NOTIFY SET STATUS:\n%s", strings.Join(u, "\n"))
	}
	for _, bad := range []string{
		"NOTIFY SET (selected (MessageNew))",
		"NOTIFY SET (selected (FlagChange))",
		"NOTIFY SET (personal (MessageNew (UID) MessageExpunge))",
		"NOTIFY SET (selected (MessageNew MessageExpunge)) (selected-delayed NONE)",
		"NOTIFY SET (everything (MessageNew MessageExpunge))",
		"NOTIFY SET (selected (MessageNew (BODY[]) MessageExpunge))",
		"NOTIFY SOMETIMES",
	} {
		rc.expect("b "+bad, "b BAD")
	}
	rc.expect("c NOTIFY SET (personal (AnnotationChange))", "c NO [BADEVENT (")
	rc.ok("d NOTIFY SET (subtree Archive (MessageNew MessageExpunge)) (mailboxes (Sent Trash) (MessageNew MessageExpunge FlagChange))")
	rc.ok("d NOTIFY NONE")
}

// TestNotifyMetadata checks NOTIFY's MailboxMetadataChange and
// ServerMetadataChange: an unsolicited METADATA response names the
// entries another session set or removed (RFC 5464 section 4.4.2).
func TestNotifyMetadata(t *testing.T) {
	e := newTestEnv(t)
	a, b := e.raw(t), e.raw(t)
	a.login()
	b.login()
	b.ok(`p SETMETADATA Archive (/private/old "x")`)
	a.ok("s SELECT INBOX")
	a.ok("n NOTIFY SET (selected (MailboxMetadataChange)) (personal (MailboxMetadataChange ServerMetadataChange))")
	b.ok(`c SETMETADATA Archive (/private/comment "x" /private/old NIL)`)
	a.expectLines(t, []string{"* METADATA Archive /private/comment /private/old"})
	b.ok(`d SETMETADATA "" (/shared/admin "mailto:postmaster@example.org")`)
	a.expectLines(t, []string{`* METADATA "" /shared/admin`})
	b.ok(`f SETMETADATA INBOX (/shared/comment "selected")`)
	a.expectLines(t, []string{"* METADATA INBOX /shared/comment"})
	// A set that changes nothing is not told.
	b.ok(`g SETMETADATA Archive (/private/comment "x")`)
	b.ok(`h SETMETADATA Archive (/private/other "y")`)
	a.expectLines(t, []string{"* METADATA Archive /private/other"})
}

// TestNotifyNewAfterExpunge checks that MessageNew's FETCH finds the new
// message when the same update expunges another: a MOVE within the
// mailbox does both in one transaction.
func TestNotifyNewAfterExpunge(t *testing.T) {
	e := newTestEnv(t)
	a, b := e.raw(t), e.raw(t)
	a.login()
	b.login()
	for range 3 {
		a.appendMsg("INBOX", "", simpleMsg)
	}
	a.ok("s SELECT INBOX")
	a.ok("n NOTIFY SET (selected (MessageNew (UID) MessageExpunge))")
	b.ok("s SELECT INBOX")
	b.ok("m UID MOVE 1 INBOX")
	a.expectLines(t, []string{"* 1 EXPUNGE", "* 3 EXISTS", "* 3 FETCH (UID 4)"}, "* 3 RECENT", "* 2 RECENT")
}
