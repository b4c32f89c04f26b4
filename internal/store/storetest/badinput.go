package storetest

import (
	"testing"

	"casella/internal/store"
)

// testBadInput checks that malformed input is refused with an error and
// leaves the account unchanged.
func testBadInput(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	inbox := mailbox(t, s, acct, store.Inbox)
	appendN(t, s, acct, inbox.ID, 1, 1)
	before := mailbox(t, s, acct, store.Inbox)

	badBlob := msg(2)
	badBlob.Blob = "../../etc/passwd"
	negative := msg(3)
	negative.Size = -1
	badFlag := msg(4)
	badFlag.Flags = []string{"bad keyword"}
	for name, m := range map[string]store.NewMessage{"bad blob key": badBlob, "negative size": negative, "bad flag": badFlag} {
		if _, err := s.Append(ctx, acct, inbox.ID, []store.NewMessage{m}); err == nil {
			t.Errorf("Append with %s succeeded", name)
		}
		if _, err := s.Deliver(ctx, store.Delivery{Key: name, Account: acct, Message: m}); err == nil {
			t.Errorf("Deliver with %s succeeded", name)
		}
	}
	if _, err := s.Deliver(ctx, store.Delivery{Account: acct, Message: msg(5)}); err == nil {
		t.Errorf("Deliver without a key succeeded")
	}
	if after := mailbox(t, s, acct, store.Inbox); after != before {
		t.Errorf("refused input changed INBOX: %+v, was %+v", after, before)
	}
	// Hostile UID ranges select sensibly.
	for _, r := range [][]store.UIDRange{{{First: 0, Last: 0}}, {{First: 4294967295, Last: 4294967295}}, {{First: 4294967295, Last: 0}}} {
		if got := list(t, s, acct, inbox.ID, r...); len(got) > 1 {
			t.Errorf("ranges %v selected %d messages", r, len(got))
		}
	}
	checkCounts(t, s, acct)
}
