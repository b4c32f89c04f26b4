package storetest

import (
	"errors"
	"slices"
	"testing"

	"casella/internal/store"
)

func testExpunge(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	inbox := mailbox(t, s, acct, store.Inbox)
	appendN(t, s, acct, inbox.ID, 1, 6)
	update(t, s, store.FlagUpdate{Mailbox: inbox.ID, UIDs: []store.UIDRange{{First: 2, Last: 2}, {First: 4, Last: 6}}, Op: store.FlagsAdd, Flags: []string{store.FlagDeleted}})
	checkCounts(t, s, acct)

	// UID EXPUNGE only among the given UIDs.
	got, err := s.Expunge(ctx, acct, inbox.ID, []store.UIDRange{{First: 1, Last: 4}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []uint32{2, 4}) {
		t.Errorf("UID EXPUNGE 1:4 removed %v, want [2 4]", got)
	}
	checkCounts(t, s, acct)
	got, err = s.Expunge(ctx, acct, inbox.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []uint32{5, 6}) {
		t.Errorf("EXPUNGE removed %v, want [5 6]", got)
	}
	if left := uidsOf(list(t, s, acct, inbox.ID)); !slices.Equal(left, []uint32{1, 3}) {
		t.Errorf("left %v", left)
	}
	if got, err := s.Expunge(ctx, acct, inbox.ID, nil); err != nil || len(got) != 0 {
		t.Errorf("second EXPUNGE: %v, %v", got, err)
	}
	checkCounts(t, s, acct)

	// UIDs are never reused, even after the highest UIDs were expunged.
	uids := appendN(t, s, acct, inbox.ID, 10, 1)
	if uids[0] != 7 {
		t.Errorf("UID after expunge %d, want 7", uids[0])
	}
	if mb := mailbox(t, s, acct, store.Inbox); mb.UIDNext != 8 || mb.Messages != 3 || mb.Deleted != 0 {
		t.Errorf("after expunge: %+v", mb)
	}
	if _, err := s.Expunge(ctx, acct, 1<<40, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expunge of a missing mailbox: %v", err)
	}
	checkCounts(t, s, acct)
}

func testCopy(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	inbox := mailbox(t, s, acct, store.Inbox)
	archive := mailbox(t, s, acct, "Archive")
	appendN(t, s, acct, archive.ID, 100, 2) // the copies must not start at UID 1
	appendN(t, s, acct, inbox.ID, 1, 4, store.FlagSeen, "$Work")
	src := list(t, s, acct, inbox.ID)
	_, highest, _ := s.Changes(ctx, acct, 0, 0, 0)

	pairs, err := s.Copy(ctx, acct, inbox.ID, []store.UIDRange{{First: 2, Last: 3}, {First: 1, Last: 1}}, archive.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pairs, []store.UIDPair{{From: 1, To: 3}, {From: 2, To: 4}, {From: 3, To: 5}}) {
		t.Errorf("COPYUID pairs %v", pairs)
	}
	copies := list(t, s, acct, archive.ID, store.UIDRange{First: 3, Last: 0})
	for i, c := range copies {
		o := src[i]
		if c.EmailID != o.EmailID || c.ThreadID != o.ThreadID || c.ID == o.ID || c.Blob != o.Blob || c.Size != o.Size ||
			!c.Internal.Equal(o.Internal) || !slices.Equal(c.Flags, o.Flags) || c.ModSeq <= highest || c.Mailbox != archive.ID {
			t.Errorf("copy %+v of %+v", c, o)
		}
	}
	if n := len(list(t, s, acct, inbox.ID)); n != 4 {
		t.Errorf("source has %d messages after copy", n)
	}
	checkCounts(t, s, acct)
	if u, _ := s.Usage(ctx, acct); u.Messages != 9 {
		t.Errorf("usage after copy %+v: copies count", u)
	}
	// Copy into the same mailbox is allowed and makes new UIDs.
	pairs, err = s.Copy(ctx, acct, inbox.ID, []store.UIDRange{{First: 4, Last: 4}}, inbox.ID)
	if err != nil || !slices.Equal(pairs, []store.UIDPair{{From: 4, To: 5}}) {
		t.Errorf("copy into the same mailbox: %v, %v", pairs, err)
	}
	// Nothing selected is not an error.
	if pairs, err := s.Copy(ctx, acct, inbox.ID, []store.UIDRange{{First: 50, Last: 60}}, archive.ID); err != nil || len(pairs) != 0 {
		t.Errorf("empty copy: %v, %v", pairs, err)
	}
	if _, err := s.Copy(ctx, acct, inbox.ID, nil, 1<<40); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("copy to a missing mailbox: %v", err)
	}
	checkCounts(t, s, acct)
}

func testMove(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	inbox := mailbox(t, s, acct, store.Inbox)
	trash := mailbox(t, s, acct, "Trash")
	appendN(t, s, acct, inbox.ID, 1, 5)
	update(t, s, store.FlagUpdate{Mailbox: inbox.ID, UIDs: []store.UIDRange{{First: 2, Last: 2}}, Op: store.FlagsAdd, Flags: []string{store.FlagSeen, store.FlagDeleted}})
	src := list(t, s, acct, inbox.ID)
	usage, _ := s.Usage(ctx, acct)
	_, highest, _ := s.Changes(ctx, acct, 0, 0, 0)

	pairs, err := s.Move(ctx, acct, inbox.ID, []store.UIDRange{{First: 2, Last: 4}}, trash.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pairs, []store.UIDPair{{From: 2, To: 1}, {From: 3, To: 2}, {From: 4, To: 3}}) {
		t.Errorf("move pairs %v", pairs)
	}
	if left := uidsOf(list(t, s, acct, inbox.ID)); !slices.Equal(left, []uint32{1, 5}) {
		t.Errorf("source left with %v", left)
	}
	moved := list(t, s, acct, trash.ID)
	for i, m := range moved {
		o := src[i+1]
		if m.EmailID != o.EmailID || m.ThreadID != o.ThreadID || m.Blob != o.Blob || !slices.Equal(m.Flags, o.Flags) ||
			m.ModSeq <= highest || m.Mailbox != trash.ID || !m.Internal.Equal(o.Internal) {
			t.Errorf("moved %+v from %+v", m, o)
		}
	}
	if u, _ := s.Usage(ctx, acct); u != usage {
		t.Errorf("usage changed by move: %+v, was %+v", u, usage)
	}
	// The source reports the moved messages as expunged, the destination
	// as added.
	changes, _, err := s.Changes(ctx, acct, 0, highest, 0)
	if err != nil {
		t.Fatal(err)
	}
	var expunged, added []uint32
	for _, c := range changes {
		switch {
		case c.Kind == store.MessageExpunged && c.Mailbox == inbox.ID:
			expunged = append(expunged, c.UID)
		case c.Kind == store.MessageAdded && c.Mailbox == trash.ID:
			added = append(added, c.UID)
		}
	}
	if !slices.Equal(expunged, []uint32{2, 3, 4}) || !slices.Equal(added, []uint32{1, 2, 3}) {
		t.Errorf("move changes: expunged %v added %v", expunged, added)
	}
	checkCounts(t, s, acct)
	if mb := mailbox(t, s, acct, "Trash"); mb.Deleted != 1 || mb.Unseen != 2 {
		t.Errorf("trash counters %+v", mb)
	}
	// A failing move changes nothing.
	before := mailbox(t, s, acct, store.Inbox)
	if _, err := s.Move(ctx, acct, inbox.ID, nil, 1<<40); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("move to a missing mailbox: %v", err)
	}
	if after := mailbox(t, s, acct, store.Inbox); after != before {
		t.Errorf("failed move changed the source: %+v", after)
	}
	checkCounts(t, s, acct)
}
