package storetest

import (
	"errors"
	"slices"
	"testing"

	"casella/internal/store"
)

// flagsOf returns the flags of each message of the mailbox by UID.
func flagsOf(t *testing.T, s store.Store, a store.Account, mb int64) map[uint32][]string {
	t.Helper()
	m := map[uint32][]string{}
	for _, msg := range list(t, s, a, mb) {
		m[msg.UID] = msg.Flags
	}
	return m
}

// sameFlags compares flag lists as sets, keywords without regard to case.
func sameFlags(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, f := range a {
		if !store.HasFlag(b, f) {
			return false
		}
	}
	return true
}

func update(t *testing.T, s store.Store, u store.FlagUpdate) store.FlagResult {
	t.Helper()
	res, err := s.UpdateFlags(ctxT(t), acct, u)
	if err != nil {
		t.Fatalf("UpdateFlags(%+v): %v", u, err)
	}
	return res
}

func testUpdateFlags(t *testing.T, s store.Store) {
	newAccount(t, s, acct)
	inbox := mailbox(t, s, acct, store.Inbox)
	appendN(t, s, acct, inbox.ID, 1, 4)
	r13 := []store.UIDRange{{First: 1, Last: 3}}

	before := list(t, s, acct, inbox.ID)
	_, high, err := s.Changes(ctxT(t), acct, 0, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	res := update(t, s, store.FlagUpdate{Mailbox: inbox.ID, UIDs: r13, Op: store.FlagsAdd, Flags: []string{`\seen`, `\FLAGGED`}})
	if len(res.Changed) != 3 || len(res.Failed) != 0 {
		t.Fatalf("add: %+v", res)
	}
	// Prior is where the account stood, so that a session current there
	// need not read the log for what this write did.
	if res.Prior != high || res.Changed[0].ModSeq != high+1 {
		t.Errorf("add: Prior %d, first new MODSEQ %d; the account's MODSEQ was %d", res.Prior, res.Changed[0].ModSeq, high)
	}
	if _, now, err := s.Changes(ctxT(t), acct, 0, 0, 1); err != nil || res.Last != now {
		t.Errorf("add: Last %d; the account's MODSEQ is %d (%v)", res.Last, now, err)
	}
	for i, m := range res.Changed {
		if !slices.Equal(m.Flags, []string{store.FlagSeen, store.FlagFlagged}) {
			t.Errorf("system flags not canonical: %q", m.Flags)
		}
		if m.ModSeq <= before[i].ModSeq || m.UID != before[i].UID || m.EmailID != before[i].EmailID {
			t.Errorf("changed message %+v, was %+v", m, before[i])
		}
	}
	if res.Changed[0].ModSeq == res.Changed[1].ModSeq {
		t.Errorf("two changed messages share MODSEQ %d", res.Changed[0].ModSeq)
	}
	checkCounts(t, s, acct)
	if mb := mailbox(t, s, acct, store.Inbox); mb.Unseen != 1 || mb.HighestModSeq < res.Changed[2].ModSeq {
		t.Errorf("after add: %+v", mb)
	}

	// Adding flags already there changes nothing.
	res = update(t, s, store.FlagUpdate{Mailbox: inbox.ID, UIDs: r13, Op: store.FlagsAdd, Flags: []string{store.FlagSeen}})
	if len(res.Changed) != 0 {
		t.Errorf("no-op add changed %d messages", len(res.Changed))
	}
	res = update(t, s, store.FlagUpdate{Mailbox: inbox.ID, UIDs: []store.UIDRange{{First: 2, Last: 0}}, Op: store.FlagsRemove, Flags: []string{store.FlagSeen}})
	if len(res.Changed) != 2 {
		t.Errorf("remove changed %d messages, want 2 (uid 4 has no \\Seen)", len(res.Changed))
	}
	res = update(t, s, store.FlagUpdate{Mailbox: inbox.ID, UIDs: []store.UIDRange{{First: 4, Last: 4}}, Op: store.FlagsReplace, Flags: []string{store.FlagDeleted, store.FlagDraft, store.FlagAnswered}})
	if len(res.Changed) != 1 {
		t.Errorf("replace: %+v", res)
	}
	want := map[uint32][]string{
		1: {store.FlagSeen, store.FlagFlagged},
		2: {store.FlagFlagged},
		3: {store.FlagFlagged},
		4: {store.FlagAnswered, store.FlagDeleted, store.FlagDraft},
	}
	got := flagsOf(t, s, acct, inbox.ID)
	for uid, w := range want {
		if !sameFlags(got[uid], w) {
			t.Errorf("uid %d flags %q, want %q", uid, got[uid], w)
		}
	}
	checkCounts(t, s, acct)
	res = update(t, s, store.FlagUpdate{Mailbox: inbox.ID, Op: store.FlagsReplace})
	if len(res.Changed) != 4 {
		t.Errorf("replace with nothing changed %d", len(res.Changed))
	}
	for uid, f := range flagsOf(t, s, acct, inbox.ID) {
		if len(f) != 0 {
			t.Errorf("uid %d flags %q after clearing", uid, f)
		}
	}
	checkCounts(t, s, acct)
	// \Recent is a session flag, never stored; unknown system flags are
	// refused.
	res = update(t, s, store.FlagUpdate{Mailbox: inbox.ID, Op: store.FlagsAdd, Flags: []string{`\Recent`}})
	if len(res.Changed) != 0 {
		t.Errorf("\\Recent changed messages: %+v", res)
	}
	if _, err := s.UpdateFlags(ctxT(t), acct, store.FlagUpdate{Mailbox: inbox.ID, Op: store.FlagsAdd, Flags: []string{`\Bogus`}}); err == nil {
		t.Errorf("unknown system flag accepted")
	}
	if _, err := s.UpdateFlags(ctxT(t), acct, store.FlagUpdate{Mailbox: 1 << 40, Op: store.FlagsAdd, Flags: []string{store.FlagSeen}}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update in a missing mailbox: %v, want ErrNotFound", err)
	}
}

func testKeywords(t *testing.T, s store.Store) {
	newAccount(t, s, acct)
	inbox := mailbox(t, s, acct, store.Inbox)
	appendN(t, s, acct, inbox.ID, 1, 2, "$Forwarded", "Work")
	got := flagsOf(t, s, acct, inbox.ID)
	if !slices.Equal(got[1], []string{"$Forwarded", "Work"}) {
		t.Errorf("appended keywords %q", got[1])
	}
	// Keywords compare without regard to case: adding one in another case
	// is a no-op and keeps the first spelling.
	res := update(t, s, store.FlagUpdate{Mailbox: inbox.ID, Op: store.FlagsAdd, Flags: []string{"work", "$FORWARDED"}})
	if len(res.Changed) != 0 {
		t.Errorf("adding keywords in another case changed %+v", res.Changed)
	}
	res = update(t, s, store.FlagUpdate{Mailbox: inbox.ID, UIDs: []store.UIDRange{{First: 1, Last: 1}}, Op: store.FlagsAdd, Flags: []string{"$Junk", "$junk", `\Seen`}})
	if len(res.Changed) != 1 || !sameFlags(res.Changed[0].Flags, []string{`\Seen`, "$Forwarded", "Work", "$Junk"}) {
		t.Errorf("add keyword: %+v", res.Changed)
	}
	res = update(t, s, store.FlagUpdate{Mailbox: inbox.ID, Op: store.FlagsRemove, Flags: []string{"WORK"}})
	if len(res.Changed) != 2 {
		t.Errorf("removing a keyword in another case changed %d messages", len(res.Changed))
	}
	res = update(t, s, store.FlagUpdate{Mailbox: inbox.ID, UIDs: []store.UIDRange{{First: 2, Last: 2}}, Op: store.FlagsReplace, Flags: []string{"$forwarded"}})
	if len(res.Changed) != 0 {
		t.Errorf("replacing with the same keyword in another case changed %+v", res.Changed)
	}
	got = flagsOf(t, s, acct, inbox.ID)
	if !sameFlags(got[1], []string{`\Seen`, "$Forwarded", "$Junk"}) || !sameFlags(got[2], []string{"$Forwarded"}) {
		t.Errorf("flags %v", got)
	}
	for _, bad := range []string{"", "a b", "a(b", "x]", `a"b`, "tab\t", "ümlaut"} {
		if _, err := s.UpdateFlags(ctxT(t), acct, store.FlagUpdate{Mailbox: inbox.ID, Op: store.FlagsAdd, Flags: []string{bad}}); err == nil {
			t.Errorf("invalid keyword %q accepted", bad)
		}
	}
	checkCounts(t, s, acct)
}

func testUnchangedSince(t *testing.T, s store.Store) {
	newAccount(t, s, acct)
	inbox := mailbox(t, s, acct, store.Inbox)
	appendN(t, s, acct, inbox.ID, 1, 3)
	msgs := list(t, s, acct, inbox.ID)
	// Change message 2 so that its MODSEQ is above what the client knew.
	known := msgs[2].ModSeq
	update(t, s, store.FlagUpdate{Mailbox: inbox.ID, UIDs: []store.UIDRange{{First: 2, Last: 2}}, Op: store.FlagsAdd, Flags: []string{"$Later"}})
	res := update(t, s, store.FlagUpdate{Mailbox: inbox.ID, Op: store.FlagsAdd, Flags: []string{store.FlagSeen}, UnchangedSince: known})
	if !slices.Equal(res.Failed, []uint32{2}) {
		t.Errorf("Failed = %v, want [2]", res.Failed)
	}
	if !slices.Equal(uidsOf(res.Changed), []uint32{1, 3}) {
		t.Errorf("Changed UIDs %v, want [1 3]", uidsOf(res.Changed))
	}
	got := flagsOf(t, s, acct, inbox.ID)
	if slices.Contains(got[2], store.FlagSeen) {
		t.Errorf("message failing UNCHANGEDSINCE was changed: %q", got[2])
	}
	// A message whose MODSEQ equals UNCHANGEDSINCE passes (RFC 7162
	// section 3.1.3: only greater fails).
	m1 := list(t, s, acct, inbox.ID, store.UIDRange{First: 1, Last: 1})[0]
	res = update(t, s, store.FlagUpdate{Mailbox: inbox.ID, UIDs: []store.UIDRange{{First: 1, Last: 1}}, Op: store.FlagsAdd, Flags: []string{store.FlagFlagged}, UnchangedSince: m1.ModSeq})
	if len(res.Failed) != 0 || len(res.Changed) != 1 {
		t.Errorf("UNCHANGEDSINCE equal to MODSEQ: %+v", res)
	}
	checkCounts(t, s, acct)
}
