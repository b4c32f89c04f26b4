package storetest

import (
	"errors"
	"slices"
	"testing"

	"casella/internal/store"
)

func names(t *testing.T, s store.Store, a store.Account) []string {
	t.Helper()
	mbs, err := s.Mailboxes(ctxT(t), a)
	if err != nil {
		t.Fatalf("Mailboxes: %v", err)
	}
	var l []string
	for _, mb := range mbs {
		l = append(l, mb.Name)
	}
	return l
}

func testAccounts(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if _, err := s.Mailboxes(ctx, acct); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Mailboxes of a missing account: %v, want ErrNotFound", err)
	}
	if _, err := s.Usage(ctx, acct); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Usage of a missing account: %v, want ErrNotFound", err)
	}
	newAccount(t, s, acct)
	mbs, err := s.Mailboxes(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	if len(mbs) != len(store.DefaultMailboxes) {
		t.Fatalf("new account has %d mailboxes, want %d", len(mbs), len(store.DefaultMailboxes))
	}
	if !slices.IsSortedFunc(mbs, func(a, b store.Mailbox) int { return compare(a.Name, b.Name) }) {
		t.Errorf("Mailboxes not sorted by name: %v", names(t, s, acct))
	}
	validities := map[uint32]bool{}
	for _, d := range store.DefaultMailboxes {
		mb := mailbox(t, s, acct, d.Name)
		if mb.SpecialUse != d.SpecialUse {
			t.Errorf("%s: special use %q, want %q", d.Name, mb.SpecialUse, d.SpecialUse)
		}
		if mb.Account != acct || mb.UIDNext != 1 || mb.Messages != 0 || mb.UIDValidity == 0 {
			t.Errorf("%s: unexpected new mailbox %+v", d.Name, mb)
		}
		validities[mb.UIDValidity] = true
	}
	if len(validities) != len(store.DefaultMailboxes) {
		t.Errorf("default mailboxes share UIDVALIDITY values: %v", validities)
	}

	// Idempotent: a second call changes nothing, even after the user
	// changed the account.
	inbox := mailbox(t, s, acct, store.Inbox)
	appendN(t, s, acct, inbox.ID, 1, 2)
	newAccount(t, s, acct)
	if got := mailbox(t, s, acct, store.Inbox); got.Messages != 2 || got.ID != inbox.ID {
		t.Errorf("EnsureAccount again changed INBOX: %+v", got)
	}
	if n := len(names(t, s, acct)); n != len(store.DefaultMailboxes) {
		t.Errorf("EnsureAccount again: %d mailboxes", n)
	}
	if u, err := s.Usage(ctx, acct); err != nil || u.Messages != 2 {
		t.Errorf("Usage = %+v, %v; want 2 messages", u, err)
	}
	checkCounts(t, s, acct)
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testCreateMailbox(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	if _, err := s.CreateMailbox(ctx, other, "x", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateMailbox in a missing account: %v, want ErrNotFound", err)
	}
	mb, err := s.CreateMailbox(ctx, acct, "Work/2024/Q1", store.UseArchive)
	if err != nil {
		t.Fatalf("CreateMailbox: %v", err)
	}
	if mb.Name != "Work/2024/Q1" || mb.SpecialUse != store.UseArchive || mb.Account != acct || mb.UIDNext != 1 || mb.ID == 0 {
		t.Errorf("created %+v", mb)
	}
	if got := mailbox(t, s, acct, "Work/2024/Q1"); got != mb {
		t.Errorf("Mailbox returns %+v, CreateMailbox returned %+v", got, mb)
	}
	for _, p := range []string{"Work", "Work/2024"} {
		if got := mailbox(t, s, acct, p); got.SpecialUse != "" {
			t.Errorf("parent %q: %+v", p, got)
		}
	}
	if _, err := s.CreateMailbox(ctx, acct, "Work/2024/Q1", ""); !errors.Is(err, store.ErrExists) {
		t.Errorf("creating an existing mailbox: %v, want ErrExists", err)
	}
	if _, err := s.CreateMailbox(ctx, acct, "Work/2024/Q2", ""); err != nil {
		t.Errorf("creating a sibling whose parents exist: %v", err)
	}
	if _, err := s.CreateMailbox(ctx, acct, "Work", ""); !errors.Is(err, store.ErrExists) {
		t.Errorf("creating an existing parent: %v, want ErrExists", err)
	}
	if _, err := s.CreateMailbox(ctx, acct, "x", `\Bogus`); err == nil {
		t.Errorf("creating with an unknown special use succeeded")
	}
	want := []string{"Archive", "Drafts", store.Inbox, "Junk", "Sent", "Trash", "Work", "Work/2024", "Work/2024/Q1", "Work/2024/Q2"}
	if got := names(t, s, acct); !slices.Equal(got, want) {
		t.Errorf("mailboxes %q, want %q", got, want)
	}
	if _, err := s.Mailbox(ctx, acct, "Nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Mailbox of a missing name: %v, want ErrNotFound", err)
	}
	// A re-created mailbox gets a new UIDVALIDITY and ID.
	if err := s.DeleteMailbox(ctx, acct, "Work/2024/Q2"); err != nil {
		t.Fatal(err)
	}
	again, err := s.CreateMailbox(ctx, acct, "Work/2024/Q2", "")
	if err != nil {
		t.Fatal(err)
	}
	if again.UIDValidity == mb.UIDValidity || again.ID == mb.ID {
		t.Errorf("re-created mailbox %+v reuses identity of %+v", again, mb)
	}
}

func testMailboxNames(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	// INBOX is case-insensitive, alone and as the first level.
	for _, n := range []string{"inbox", "Inbox", "iNbOx"} {
		if got := mailbox(t, s, acct, n); got.Name != store.Inbox {
			t.Errorf("Mailbox(%q) = %q", n, got.Name)
		}
		if _, err := s.CreateMailbox(ctx, acct, n, ""); !errors.Is(err, store.ErrExists) {
			t.Errorf("CreateMailbox(%q): %v, want ErrExists", n, err)
		}
	}
	if _, err := s.CreateMailbox(ctx, acct, "inbox/Sub", ""); err != nil {
		t.Fatal(err)
	}
	if got := mailbox(t, s, acct, "INBOX/Sub"); got.Name != "INBOX/Sub" {
		t.Errorf("inbox/Sub was stored as %q", got.Name)
	}
	// Other names are case-sensitive.
	for _, n := range []string{"Lists", "lists", "LISTS", "Ünïcode ✉", "lists/Go"} {
		if _, err := s.CreateMailbox(ctx, acct, n, ""); err != nil {
			t.Errorf("CreateMailbox(%q): %v", n, err)
		}
	}
	if got := mailbox(t, s, acct, "lists"); got.Name != "lists" {
		t.Errorf("Mailbox(lists) = %q", got.Name)
	}
	for _, n := range []string{"", "/", "/a", "a/", "a//b", "a\x00b", "a\tb", "a\x7fb", "a\u0085b", "bad\xffutf8", "*", "a%b"} {
		if _, err := s.CreateMailbox(ctx, acct, n, ""); !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("CreateMailbox(%q): %v, want ErrInvalidName", n, err)
		}
		if err := s.RenameMailbox(ctx, acct, "Lists", n); !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("RenameMailbox to %q: %v, want ErrInvalidName", n, err)
		}
	}
}

func testRenameMailbox(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	for _, n := range []string{"a/b/c", "a/d", "ab", "a0"} {
		if _, err := s.CreateMailbox(ctx, acct, n, ""); err != nil {
			t.Fatal(err)
		}
	}
	a := mailbox(t, s, acct, "a")
	ab := mailbox(t, s, acct, "a/b")
	appendN(t, s, acct, ab.ID, 1, 3)

	if err := s.RenameMailbox(ctx, acct, "a", "ab"); !errors.Is(err, store.ErrExists) {
		t.Errorf("rename onto an existing name: %v, want ErrExists", err)
	}
	if err := s.RenameMailbox(ctx, acct, "nope", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rename of a missing mailbox: %v, want ErrNotFound", err)
	}
	if err := s.RenameMailbox(ctx, acct, "a", "INBOX"); !errors.Is(err, store.ErrExists) {
		t.Errorf("rename onto INBOX: %v, want ErrExists", err)
	}
	if err := s.RenameMailbox(ctx, acct, "a", "x/y"); err != nil {
		t.Fatalf("rename: %v", err)
	}
	want := []string{"Archive", "Drafts", store.Inbox, "Junk", "Sent", "Trash", "a0", "ab", "x", "x/y", "x/y/b", "x/y/b/c", "x/y/d"}
	if got := names(t, s, acct); !slices.Equal(got, want) {
		t.Errorf("after rename: %q, want %q", got, want)
	}
	moved := mailbox(t, s, acct, "x/y")
	if moved.ID != a.ID || moved.UIDValidity != a.UIDValidity {
		t.Errorf("renamed mailbox %+v lost its identity %+v", moved, a)
	}
	movedB := mailbox(t, s, acct, "x/y/b")
	if movedB.ID != ab.ID || len(list(t, s, acct, movedB.ID)) != 3 {
		t.Errorf("child lost its messages: %+v", movedB)
	}
	// Renaming into its own subtree.
	if err := s.RenameMailbox(ctx, acct, "ab", "ab/inner"); err != nil {
		t.Fatalf("rename into own subtree: %v", err)
	}
	if got := mailbox(t, s, acct, "ab/inner"); got.Name != "ab/inner" {
		t.Errorf("ab/inner = %+v", got)
	}
	checkCounts(t, s, acct)
}

func testRenameInbox(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	inbox := mailbox(t, s, acct, store.Inbox)
	if _, err := s.CreateMailbox(ctx, acct, "INBOX/child", ""); err != nil {
		t.Fatal(err)
	}
	appendN(t, s, acct, inbox.ID, 1, 4, store.FlagSeen)
	before := list(t, s, acct, inbox.ID)
	if err := s.RenameMailbox(ctx, acct, "inbox", "Old/Mail"); err != nil {
		t.Fatalf("rename INBOX: %v", err)
	}
	after := mailbox(t, s, acct, store.Inbox)
	if after.ID != inbox.ID || after.Messages != 0 || after.UIDNext != inbox.UIDNext+4 {
		t.Errorf("INBOX after rename: %+v", after)
	}
	if len(list(t, s, acct, inbox.ID)) != 0 {
		t.Errorf("INBOX still has messages")
	}
	mailbox(t, s, acct, "INBOX/child")
	old := mailbox(t, s, acct, "Old/Mail")
	got := list(t, s, acct, old.ID)
	if len(got) != 4 || old.Messages != 4 || old.Unseen != 0 {
		t.Fatalf("renamed-to mailbox %+v has %d messages", old, len(got))
	}
	for i, m := range got {
		if m.EmailID != before[i].EmailID || m.Blob != before[i].Blob || !slices.Equal(m.Flags, before[i].Flags) {
			t.Errorf("message %d changed in the move: %+v from %+v", i, m, before[i])
		}
	}
	// New deliveries keep going to INBOX, with UIDs above the old ones.
	d, err := s.Deliver(ctx, store.Delivery{Key: "after-rename", Account: acct, Message: msg(9)})
	if err != nil || d.Mailbox != inbox.ID || d.UID != inbox.UIDNext+4 {
		t.Errorf("delivery after rename: %+v, %v", d, err)
	}
	checkCounts(t, s, acct)
}

func testDeleteMailbox(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	for _, n := range []string{"inbox", "INBOX"} {
		if err := s.DeleteMailbox(ctx, acct, n); !errors.Is(err, store.ErrNotPermitted) {
			t.Errorf("DeleteMailbox(%q): %v, want ErrNotPermitted", n, err)
		}
	}
	if err := s.DeleteMailbox(ctx, acct, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete of a missing mailbox: %v, want ErrNotFound", err)
	}
	if _, err := s.CreateMailbox(ctx, acct, "p/c", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMailbox(ctx, acct, "p"); !errors.Is(err, store.ErrHasChildren) {
		t.Errorf("delete of a parent: %v, want ErrHasChildren", err)
	}
	c := mailbox(t, s, acct, "p/c")
	appendN(t, s, acct, c.ID, 1, 5)
	inbox := mailbox(t, s, acct, store.Inbox)
	appendN(t, s, acct, inbox.ID, 10, 2)
	checkCounts(t, s, acct)
	if err := s.DeleteMailbox(ctx, acct, "p/c"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMailbox(ctx, acct, "p"); err != nil {
		t.Errorf("delete of a parent whose children are gone: %v", err)
	}
	if _, err := s.Mailbox(ctx, acct, "p/c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted mailbox still found: %v", err)
	}
	if err := s.Messages(ctx, acct, store.Query{Mailbox: c.ID}, func(*store.Message) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Messages of a deleted mailbox: %v, want ErrNotFound", err)
	}
	if u, _ := s.Usage(ctx, acct); u.Messages != 2 {
		t.Errorf("usage after deleting a mailbox: %+v", u)
	}
	// Special-use mailboxes can be deleted.
	if err := s.DeleteMailbox(ctx, acct, "Junk"); err != nil {
		t.Errorf("delete Junk: %v", err)
	}
	checkCounts(t, s, acct)
}

func testSubscribe(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	if _, err := s.CreateMailbox(ctx, acct, "News", ""); err != nil {
		t.Fatal(err)
	}
	for _, on := range []bool{true, true, false, true} {
		if err := s.Subscribe(ctx, acct, "News", on); err != nil {
			t.Fatal(err)
		}
		if got := mailbox(t, s, acct, "News").Subscribed; got != on {
			t.Errorf("Subscribed = %v, want %v", got, on)
		}
	}
	if err := s.Subscribe(ctx, acct, "nope", true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("subscribe to a missing mailbox: %v, want ErrNotFound", err)
	}
}
