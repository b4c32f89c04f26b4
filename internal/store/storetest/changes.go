package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"casella/internal/store"
)

func testChanges(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if _, _, err := s.Changes(ctx, acct, 0, 0, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Changes of a missing account: %v", err)
	}
	newAccount(t, s, acct)
	_, start, err := s.Changes(ctx, acct, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	inbox := mailbox(t, s, acct, store.Inbox)
	sent := mailbox(t, s, acct, "Sent")
	appendN(t, s, acct, inbox.ID, 1, 3)
	appendN(t, s, acct, sent.ID, 10, 1)
	update(t, s, store.FlagUpdate{Mailbox: inbox.ID, UIDs: []store.UIDRange{{First: 2, Last: 2}}, Op: store.FlagsAdd, Flags: []string{store.FlagDeleted}})
	if _, err := s.Expunge(ctx, acct, inbox.ID, nil); err != nil {
		t.Fatal(err)
	}
	all, highest, err := s.Changes(ctx, acct, 0, start, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 || all[len(all)-1].ModSeq != highest {
		t.Fatalf("changes %+v, highest %d", all, highest)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ModSeq <= all[i-1].ModSeq {
			t.Errorf("changes not in MODSEQ order: %+v", all)
		}
	}
	kinds := map[store.ChangeKind][]uint32{}
	for _, c := range all {
		if c.Mailbox == inbox.ID {
			kinds[c.Kind] = append(kinds[c.Kind], c.UID)
		}
		if c.ModSeq <= start {
			t.Errorf("change %+v not above since %d", c, start)
		}
	}
	if !slices.Equal(kinds[store.MessageAdded], []uint32{1, 2, 3}) || !slices.Equal(kinds[store.MessageFlagsChanged], []uint32{2}) ||
		!slices.Equal(kinds[store.MessageExpunged], []uint32{2}) {
		t.Errorf("inbox changes by kind %v", kinds)
	}
	var expunge store.Change
	for _, c := range all {
		if c.Kind == store.MessageExpunged {
			expunge = c
		}
	}
	if expunge.EmailID == 0 || expunge.ModSeq == 0 || expunge.ModSeq > mailbox(t, s, acct, store.Inbox).HighestModSeq {
		t.Errorf("expunge change %+v", expunge)
	}

	// Restricted to one mailbox.
	only, h2, err := s.Changes(ctx, acct, sent.ID, start, 0)
	if err != nil || h2 != highest {
		t.Fatal(err)
	}
	if len(only) == 0 {
		t.Errorf("no changes for Sent")
	}
	for _, c := range only {
		if c.Mailbox != sent.ID {
			t.Errorf("change of another mailbox: %+v", c)
		}
	}
	// Paging with a limit returns the same entries.
	var paged []store.Change
	since := start
	for {
		page, _, err := s.Changes(ctx, acct, 0, since, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("limit 2 returned %d", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		since = page[len(page)-1].ModSeq
	}
	if !slices.Equal(paged, all) {
		t.Errorf("paged changes differ:\n%+v\n%+v", paged, all)
	}
	if none, h, err := s.Changes(ctx, acct, 0, highest, 0); err != nil || len(none) != 0 || h != highest {
		t.Errorf("changes since highest: %+v %d %v", none, h, err)
	}

	// Mailbox changes, and a deleted mailbox's changes stay readable.
	mb, err := s.CreateMailbox(ctx, acct, "Tmp", "")
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, acct, mb.ID, 1, 1)
	if err := s.RenameMailbox(ctx, acct, "Tmp", "Tmp2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMailbox(ctx, acct, "Tmp2"); err != nil {
		t.Fatal(err)
	}
	tmp, _, err := s.Changes(ctx, acct, mb.ID, highest, 0)
	if err != nil {
		t.Fatalf("changes of a deleted mailbox: %v", err)
	}
	var tk []store.ChangeKind
	for _, c := range tmp {
		if c.Kind != store.MailboxChanged || len(tk) == 0 || tk[len(tk)-1] != store.MailboxChanged {
			tk = append(tk, c.Kind)
		}
	}
	want := []store.ChangeKind{store.MailboxCreated, store.MessageAdded, store.MailboxChanged, store.MessageExpunged, store.MailboxDeleted}
	if !slices.Equal(tk, want) {
		t.Errorf("kinds of a deleted mailbox's changes %v, want %v", tk, want)
	}
}

func testModSeq(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	inbox := mailbox(t, s, acct, store.Inbox)
	last := uint64(0)
	step := func(what string, fn func() error) {
		t.Helper()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		_, h, err := s.Changes(ctx, acct, 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if h <= last {
			t.Errorf("%s: highest MODSEQ %d did not grow from %d", what, h, last)
		}
		if mb := mailbox(t, s, acct, store.Inbox); mb.HighestModSeq > h {
			t.Errorf("%s: INBOX HIGHESTMODSEQ %d above account's %d", what, mb.HighestModSeq, h)
		}
		last = h
		checkCounts(t, s, acct)
	}
	step("append", func() error { _, err := s.Append(ctx, acct, inbox.ID, []store.NewMessage{msg(1), msg(2)}); return err })
	step("deliver", func() error {
		_, err := s.Deliver(ctx, store.Delivery{Key: "d", Account: acct, Message: msg(3)})
		return err
	})
	step("flags", func() error {
		_, err := s.UpdateFlags(ctx, acct, store.FlagUpdate{Mailbox: inbox.ID, Op: store.FlagsAdd, Flags: []string{store.FlagDeleted}})
		return err
	})
	step("expunge", func() error {
		_, err := s.Expunge(ctx, acct, inbox.ID, []store.UIDRange{{First: 1, Last: 1}})
		return err
	})
	step("copy", func() error { _, err := s.Copy(ctx, acct, inbox.ID, nil, mailbox(t, s, acct, "Sent").ID); return err })
	step("move", func() error { _, err := s.Move(ctx, acct, inbox.ID, nil, mailbox(t, s, acct, "Trash").ID); return err })
	step("create", func() error { _, err := s.CreateMailbox(ctx, acct, "M", ""); return err })
	step("rename", func() error { return s.RenameMailbox(ctx, acct, "M", "N") })
	step("subscribe", func() error { return s.Subscribe(ctx, acct, "N", true) })
	step("delete", func() error { return s.DeleteMailbox(ctx, acct, "N") })
	if mb := mailbox(t, s, acct, store.Inbox); mb.Messages != 0 {
		t.Errorf("INBOX %+v", mb)
	}
	// Each mailbox's HIGHESTMODSEQ is its last change.
	trash := mailbox(t, s, acct, "Trash")
	c, _, err := s.Changes(ctx, acct, trash.ID, 0, 0)
	if err != nil || len(c) == 0 || c[len(c)-1].ModSeq != trash.HighestModSeq {
		t.Errorf("Trash HIGHESTMODSEQ %d, changes %+v, %v", trash.HighestModSeq, c, err)
	}
}

func testWatch(t *testing.T, s store.Store) {
	newAccount(t, s, acct)
	newAccount(t, s, other)
	ch, cancel := s.Watch(acct)
	otherCh, otherCancel := s.Watch(other)
	defer otherCancel()
	inbox := mailbox(t, s, acct, store.Inbox)
	appendN(t, s, acct, inbox.ID, 1, 1)
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification after a commit")
	}
	// The change is visible when the notification arrives.
	if n := len(list(t, s, acct, inbox.ID)); n != 1 {
		t.Errorf("notified before the change was visible: %d messages", n)
	}
	select {
	case <-otherCh:
		t.Errorf("another account's watcher was notified")
	default:
	}
	// Changes coalesce: several commits, the watcher does not block them.
	for i := range 5 {
		appendN(t, s, acct, inbox.ID, 10+i, 1)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification after several commits")
	}
	cancel()
	cancel() // cancelling twice is harmless
drain:
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				break drain
			}
		default:
			break drain
		}
	}
	appendN(t, s, acct, inbox.ID, 20, 1)
	select {
	case _, ok := <-ch:
		if ok {
			t.Errorf("notified after cancel")
		}
	default:
	}
}
