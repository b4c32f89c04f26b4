// Package storetest is the conformance suite of the mailbox store: every
// implementation of store.Store runs Run in its tests, so that the IMAP,
// POP3, JMAP servers and the delivery loop can rely on the promises of
// store.Store's doc comments whichever store is configured.
//
// Implementation notes:
//   - Each subtest opens a fresh store through the caller's open function,
//     so subtests never depend on each other's data.
//   - After every operation that changes messages, tests call checkCounts,
//     which recomputes every mailbox's counters and the account's usage
//     from the messages themselves and compares them with what the store
//     maintains: counters must be exact, not eventually right.
//   - Tests say what they expect from the interface, never how an
//     implementation stores it.
//   - Bench runs the same benchmark bodies against every implementation,
//     so that their figures compare.
package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"casella/internal/blob"
	"casella/internal/message"
	"casella/internal/store"
)

// Run runs the conformance suite. open returns a new, empty store for one
// subtest and arranges for it to be closed when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Accounts", testAccounts},
		{"CreateMailbox", testCreateMailbox},
		{"MailboxNames", testMailboxNames},
		{"RenameMailbox", testRenameMailbox},
		{"RenameInbox", testRenameInbox},
		{"DeleteMailbox", testDeleteMailbox},
		{"Subscribe", testSubscribe},
		{"Subscriptions", testSubscriptions},
		{"ClaimRecent", testClaimRecent},
		{"AppendRecent", testAppendRecent},
		{"Metadata", testMetadata},
		{"Deliver", testDeliver},
		{"DeliverFallback", testDeliverFallback},
		{"DeliverBatch", testDeliverBatch},
		{"PruneDeliveries", testPruneDeliveries},
		{"Append", testAppend},
		{"Messages", testMessages},
		{"Meta", testMeta},
		{"SortKeys", testSortKeys},
		{"Threads", testThreads},
		{"UpdateFlags", testUpdateFlags},
		{"Keywords", testKeywords},
		{"MailboxKeywords", testMailboxKeywords},
		{"UnchangedSince", testUnchangedSince},
		{"Expunge", testExpunge},
		{"Copy", testCopy},
		{"Move", testMove},
		{"Changes", testChanges},
		{"ModSeq", testModSeq},
		{"Watch", testWatch},
		{"Blobs", testBlobs},
		{"MessagesWithBlob", testMessagesWithBlob},
		{"ConcurrentDeliver", testConcurrentDeliver},
		{"DeleteAccount", testDeleteAccount},
		{"Isolation", testIsolation},
		{"BadInput", testBadInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// acct is the account most tests use; other is a second account for
// isolation tests.
const (
	acct  store.Account = 1
	other store.Account = 2
)

func ctxT(t *testing.T) context.Context { return t.Context() }

// newAccount ensures acct exists in s.
func newAccount(t *testing.T, s store.Store, a store.Account) {
	t.Helper()
	if err := s.EnsureAccount(ctxT(t), a); err != nil {
		t.Fatalf("EnsureAccount(%d): %v", a, err)
	}
}

// mailbox returns the named mailbox, failing the test if it is missing.
func mailbox(t *testing.T, s store.Store, a store.Account, name string) store.Mailbox {
	t.Helper()
	mb, err := s.Mailbox(ctxT(t), a, name)
	if err != nil {
		t.Fatalf("Mailbox(%q): %v", name, err)
	}
	return mb
}

// msg returns a new message whose blob and size derive from n.
func msg(n int, flags ...string) store.NewMessage {
	data := fmt.Sprintf("Subject: message %d\r\n\r\nbody %d\r\n", n, n)
	return store.NewMessage{
		Blob:     blob.KeyOf([]byte(data)),
		Size:     int64(len(data)),
		Internal: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(n) * time.Minute),
		Flags:    flags,
	}
}

// meta returns realistic parsed metadata for a message.
func meta(subject, msgID string, refs ...string) *message.Meta {
	return &message.Meta{
		Envelope: message.Envelope{
			Date:      time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
			RawDate:   "Mon, 6 May 2024 07:08:09 +0000",
			Subject:   subject,
			From:      []message.Address{{Name: "Alice Example", Local: "alice", Host: "example.org"}},
			To:        []message.Address{{Local: "bob", Host: "example.com"}},
			MessageID: "<" + msgID + ">",
		},
		Structure: &message.Part{
			Type: "multipart", Subtype: "mixed", Params: map[string]string{"boundary": "b1"},
			HeaderStart: 0, BodyStart: 120, BodyEnd: 900,
			Parts: []*message.Part{
				{Type: "text", Subtype: "plain", Params: map[string]string{"charset": "utf-8"}, HeaderStart: 140, BodyStart: 180, BodyEnd: 400, Lines: 8},
				{Type: "application", Subtype: "pdf", Disposition: "attachment", DispositionParams: map[string]string{"filename": "a.pdf"}, Encoding: "base64", HeaderStart: 420, BodyStart: 500, BodyEnd: 880},
			},
		},
		References:    refs,
		BaseSubject:   subject,
		Preview:       "Hello, this is the first text part.",
		HasAttachment: true,
	}
}

// appendN appends n messages numbered from start to the mailbox.
func appendN(t *testing.T, s store.Store, a store.Account, mb int64, start, n int, flags ...string) []uint32 {
	t.Helper()
	var l []store.NewMessage
	for i := range n {
		l = append(l, msg(start+i, flags...))
	}
	uids, err := s.Append(ctxT(t), a, mb, l)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if len(uids) != n {
		t.Fatalf("Append returned %d UIDs for %d messages", len(uids), n)
	}
	return uids
}

// list returns the messages of a mailbox in the ranges.
func list(t *testing.T, s store.Store, a store.Account, mb int64, uids ...store.UIDRange) []store.Message {
	t.Helper()
	var l []store.Message
	err := s.Messages(ctxT(t), a, store.Query{Mailbox: mb, UIDs: uids}, func(m *store.Message) error {
		l = append(l, *m)
		return nil
	})
	if err != nil {
		t.Fatalf("Messages: %v", err)
	}
	return l
}

// checkFlagsOnly checks that a FlagsOnly query returns the UIDs, MODSEQs
// and flags of msgs, a full listing of mb, and nothing else.
func checkFlagsOnly(t *testing.T, s store.Store, a store.Account, mb store.Mailbox, msgs []store.Message) {
	t.Helper()
	var got []store.Message
	err := s.Messages(ctxT(t), a, store.Query{Mailbox: mb.ID, FlagsOnly: true, WithMeta: true}, func(m *store.Message) error {
		got = append(got, *m)
		return nil
	})
	if err != nil || len(got) != len(msgs) {
		t.Errorf("mailbox %q: FlagsOnly listed %d messages, %v; want %d", mb.Name, len(got), err, len(msgs))
		return
	}
	for i, m := range got {
		w := msgs[i]
		want := store.Message{Mailbox: mb.ID, UID: w.UID, ModSeq: w.ModSeq, Flags: w.Flags}
		if m.Mailbox != want.Mailbox || m.UID != want.UID || m.ModSeq != want.ModSeq || !slices.Equal(m.Flags, want.Flags) ||
			m.ID != 0 || m.Blob != "" || m.Size != 0 || m.Meta != nil || m.SortKeys != nil {
			t.Errorf("mailbox %q: FlagsOnly gave %+v, want %+v", mb.Name, m, want)
		}
	}
}

func uidsOf(l []store.Message) []uint32 {
	var u []uint32
	for _, m := range l {
		u = append(u, m.UID)
	}
	return u
}

// checkCounts recomputes every mailbox's counters and the account's usage
// from its messages and compares them with the store's, and checks that
// UIDs and a FlagsOnly query agree with the messages.
func checkCounts(t *testing.T, s store.Store, a store.Account) {
	t.Helper()
	mbs, err := s.Mailboxes(ctxT(t), a)
	if err != nil {
		t.Fatalf("Mailboxes: %v", err)
	}
	var usage store.Usage
	for _, mb := range mbs {
		var want store.Mailbox
		var maxUID uint32
		var maxModSeq uint64
		msgs := list(t, s, a, mb.ID)
		if uids, err := s.UIDs(ctxT(t), a, mb.ID); err != nil || !slices.Equal(uids, uidsOf(msgs)) {
			t.Errorf("mailbox %q: UIDs %v, %v; the messages have %v", mb.Name, uids, err, uidsOf(msgs))
		}
		checkFlagsOnly(t, s, a, mb, msgs)
		for _, m := range msgs {
			want.Messages++
			want.Size += m.Size
			if !slices.Contains(m.Flags, store.FlagSeen) {
				want.Unseen++
			}
			if slices.Contains(m.Flags, store.FlagDeleted) {
				want.Deleted++
			}
			maxUID = max(maxUID, m.UID)
			maxModSeq = max(maxModSeq, m.ModSeq)
		}
		if mb.Messages != want.Messages || mb.Unseen != want.Unseen || mb.Deleted != want.Deleted || mb.Size != want.Size {
			t.Errorf("mailbox %q counters: messages %d unseen %d deleted %d size %d; messages say %d %d %d %d",
				mb.Name, mb.Messages, mb.Unseen, mb.Deleted, mb.Size, want.Messages, want.Unseen, want.Deleted, want.Size)
		}
		if mb.UIDNext <= maxUID {
			t.Errorf("mailbox %q: UIDNEXT %d not above highest UID %d", mb.Name, mb.UIDNext, maxUID)
		}
		if mb.HighestModSeq < maxModSeq {
			t.Errorf("mailbox %q: HIGHESTMODSEQ %d below a message's MODSEQ %d", mb.Name, mb.HighestModSeq, maxModSeq)
		}
		usage.Messages += int64(want.Messages)
		usage.Bytes += want.Size
	}
	got, err := s.Usage(ctxT(t), a)
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	if got != usage {
		t.Errorf("Usage %+v, sum of messages %+v", got, usage)
	}
}
