package storetest

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"casella/internal/message"
	"casella/internal/store"
)

func testDeliver(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	// Delivery creates a missing account.
	m := msg(1)
	m.Meta = meta("hello", "m1@example.org")
	d, err := s.Deliver(ctx, store.Delivery{Key: "spool-1/0", Account: acct, Message: m})
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	inbox := mailbox(t, s, acct, store.Inbox)
	if d.Mailbox != inbox.ID || d.UID != 1 || d.Duplicate {
		t.Errorf("Deliver = %+v", d)
	}
	checkCounts(t, s, acct)
	before := mailbox(t, s, acct, store.Inbox)
	usage, _ := s.Usage(ctx, acct)
	_, highest, err := s.Changes(ctx, acct, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}

	// The same key again stores nothing, whatever the message says.
	d2, err := s.Deliver(ctx, store.Delivery{Key: "spool-1/0", Account: acct, Mailbox: "Sent", Message: msg(2)})
	if err != nil {
		t.Fatalf("Deliver again: %v", err)
	}
	if d2.Mailbox != d.Mailbox || d2.UID != d.UID || !d2.Duplicate {
		t.Errorf("duplicate delivery = %+v, want %+v with Duplicate", d2, d)
	}
	if after := mailbox(t, s, acct, store.Inbox); after != before {
		t.Errorf("duplicate delivery changed INBOX: %+v, was %+v", after, before)
	}
	if u, _ := s.Usage(ctx, acct); u != usage {
		t.Errorf("duplicate delivery changed usage: %+v, was %+v", u, usage)
	}
	if _, h, _ := s.Changes(ctx, acct, 0, 0, 0); h != highest {
		t.Errorf("duplicate delivery moved MODSEQ from %d to %d", highest, h)
	}
	if n := len(list(t, s, acct, mailbox(t, s, acct, "Sent").ID)); n != 0 {
		t.Errorf("duplicate delivery stored %d messages in Sent", n)
	}

	// Another key is another delivery; the key is per account.
	d3, err := s.Deliver(ctx, store.Delivery{Key: "spool-1/1", Account: acct, Mailbox: "Sent", Message: msg(3, store.FlagSeen)})
	if err != nil || d3.Duplicate || d3.Mailbox != mailbox(t, s, acct, "Sent").ID || d3.UID != 1 {
		t.Errorf("second delivery = %+v, %v", d3, err)
	}
	d4, err := s.Deliver(ctx, store.Delivery{Key: "spool-1/0", Account: other, Message: msg(4)})
	if err != nil || d4.Duplicate || d4.UID != 1 {
		t.Errorf("same key for another account = %+v, %v", d4, err)
	}
	checkCounts(t, s, acct)
	checkCounts(t, s, other)
	got := list(t, s, acct, inbox.ID)
	if len(got) != 1 || got[0].Blob != m.Blob || got[0].Size != m.Size || !got[0].Internal.Equal(m.Internal) {
		t.Errorf("delivered message %+v", got)
	}
}

func testDeliverFallback(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	inbox := mailbox(t, s, acct, store.Inbox)
	for i, name := range []string{"", "Missing", "bad//name", "inbox"} {
		d, err := s.Deliver(ctx, store.Delivery{Key: "k" + name, Account: acct, Mailbox: name, Message: msg(i)})
		if err != nil || d.Mailbox != inbox.ID || d.UID != uint32(i+1) {
			t.Errorf("delivery to %q = %+v, %v; want INBOX uid %d", name, d, err, i+1)
		}
	}
	if _, err := s.Mailbox(ctx, acct, "Missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delivery created the missing mailbox: %v", err)
	}
	checkCounts(t, s, acct)
}

func testAppend(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	inbox := mailbox(t, s, acct, store.Inbox)
	uids := appendN(t, s, acct, inbox.ID, 1, 5, store.FlagSeen)
	if !slices.Equal(uids, []uint32{1, 2, 3, 4, 5}) {
		t.Errorf("UIDs %v", uids)
	}
	if mb := mailbox(t, s, acct, store.Inbox); mb.UIDNext != 6 || mb.Messages != 5 || mb.Unseen != 0 {
		t.Errorf("after append: %+v", mb)
	}
	uids = appendN(t, s, acct, inbox.ID, 10, 3)
	if !slices.Equal(uids, []uint32{6, 7, 8}) {
		t.Errorf("second append UIDs %v", uids)
	}
	if mb := mailbox(t, s, acct, store.Inbox); mb.UIDNext != 9 || mb.Messages != 8 || mb.Unseen != 3 {
		t.Errorf("after second append: %+v", mb)
	}
	checkCounts(t, s, acct)

	// A message with a zero internal date gets the current time.
	m := msg(20)
	m.Internal = time.Time{}
	start := time.Now().Add(-time.Minute)
	u, err := s.Append(ctx, acct, inbox.ID, []store.NewMessage{m})
	if err != nil {
		t.Fatal(err)
	}
	got := list(t, s, acct, inbox.ID, store.UIDRange{First: u[0], Last: u[0]})
	if len(got) != 1 || got[0].Internal.Before(start) || got[0].Saved.Before(start) {
		t.Errorf("zero internal date stored as %+v", got)
	}
	// A batch with a bad message stores nothing.
	bad := msg(21)
	bad.Flags = []string{`\Bogus`}
	before := mailbox(t, s, acct, store.Inbox)
	if _, err := s.Append(ctx, acct, inbox.ID, []store.NewMessage{msg(22), bad}); err == nil {
		t.Errorf("append with an invalid flag succeeded")
	}
	if after := mailbox(t, s, acct, store.Inbox); after != before {
		t.Errorf("failed append changed the mailbox: %+v, was %+v", after, before)
	}
	if _, err := s.Append(ctx, acct, 1<<40, []store.NewMessage{msg(1)}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("append to a missing mailbox: %v, want ErrNotFound", err)
	}
	checkCounts(t, s, acct)
}

func testMessages(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	inbox := mailbox(t, s, acct, store.Inbox)
	appendN(t, s, acct, inbox.ID, 1, 10)
	all := list(t, s, acct, inbox.ID)
	if !slices.Equal(uidsOf(all), []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) {
		t.Fatalf("all UIDs %v", uidsOf(all))
	}
	ids := map[int64]bool{}
	for i, m := range all {
		want := msg(i + 1)
		if m.Mailbox != inbox.ID || m.Blob != want.Blob || m.Size != want.Size || !m.Internal.Equal(want.Internal) ||
			m.ModSeq == 0 || m.EmailID == 0 || m.ThreadID == 0 || m.Meta != nil || len(m.Flags) != 0 || m.Saved.IsZero() {
			t.Errorf("message %d: %+v", i, m)
		}
		ids[m.ID] = true
		ids[m.EmailID] = true
	}
	if len(ids) < 10 {
		t.Errorf("IDs not unique")
	}
	cases := []struct {
		ranges []store.UIDRange
		want   []uint32
	}{
		{[]store.UIDRange{{First: 3, Last: 5}}, []uint32{3, 4, 5}},
		{[]store.UIDRange{{First: 8, Last: 0}}, []uint32{8, 9, 10}},
		{[]store.UIDRange{{First: 9, Last: 2}, {First: 12, Last: 20}}, []uint32{2, 3, 4, 5, 6, 7, 8, 9}},
		{[]store.UIDRange{{First: 7, Last: 7}, {First: 1, Last: 2}, {First: 2, Last: 3}}, []uint32{1, 2, 3, 7}},
		{[]store.UIDRange{{First: 11, Last: 0}}, nil},
		{[]store.UIDRange{}, nil},
	}
	for _, c := range cases {
		if got := uidsOf(list(t, s, acct, inbox.ID, c.ranges...)); !slices.Equal(got, c.want) {
			t.Errorf("ranges %v: UIDs %v, want %v", c.ranges, got, c.want)
		}
	}
	// An error from fn stops the scan and is returned.
	stop := errors.New("stop")
	n := 0
	err := s.Messages(ctx, acct, store.Query{Mailbox: inbox.ID}, func(*store.Message) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Errorf("Messages after fn error: %v after %d calls", err, n)
	}
	if err := s.Messages(ctx, acct, store.Query{Mailbox: 1 << 40}, func(*store.Message) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Messages of a missing mailbox: %v, want ErrNotFound", err)
	}
}

func testMeta(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	inbox := mailbox(t, s, acct, store.Inbox)
	m := msg(1)
	m.Meta = meta("Quarterly report", "q1@example.org", "older@example.org")
	plain := msg(2)
	if _, err := s.Append(ctx, acct, inbox.ID, []store.NewMessage{m, plain}); err != nil {
		t.Fatal(err)
	}
	var got []store.Message
	err := s.Messages(ctx, acct, store.Query{Mailbox: inbox.ID, WithMeta: true}, func(m *store.Message) error {
		got = append(got, *m)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Meta == nil || got[1].Meta != nil {
		t.Fatalf("WithMeta returned %+v", got)
	}
	if !reflect.DeepEqual(got[0].Meta, m.Meta) {
		t.Errorf("meta round trip:\n got %+v\nwant %+v", got[0].Meta, m.Meta)
	}
	// Meta survives copy and move.
	sent := mailbox(t, s, acct, "Sent")
	if _, err := s.Copy(ctx, acct, inbox.ID, []store.UIDRange{{First: 1, Last: 1}}, sent.ID); err != nil {
		t.Fatal(err)
	}
	archive := mailbox(t, s, acct, "Archive")
	if _, err := s.Move(ctx, acct, sent.ID, nil, archive.ID); err != nil {
		t.Fatal(err)
	}
	err = s.Messages(ctx, acct, store.Query{Mailbox: archive.ID, WithMeta: true}, func(c *store.Message) error {
		if !reflect.DeepEqual(c.Meta, m.Meta) {
			t.Errorf("meta after copy and move: %+v", c.Meta)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testSortKeys(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	inbox := mailbox(t, s, acct, store.Inbox)
	m := msg(1)
	m.Meta = meta("Re: Quarterly report", "q1@example.org")
	m.Meta.BaseSubject = "Quarterly report"
	m.Meta.Envelope.From[0].Local = "Alice"
	m.Meta.Envelope.Cc = []message.Address{{Local: "carol", Host: "Example.NET"}, {Local: "dave", Host: "example.net"}}
	if _, err := s.Append(ctx, acct, inbox.ID, []store.NewMessage{m, msg(2)}); err != nil {
		t.Fatal(err)
	}
	var got []*store.SortKeys
	err := s.Messages(ctx, acct, store.Query{Mailbox: inbox.ID, WithSortKeys: true}, func(m *store.Message) error {
		got = append(got, m.SortKeys)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []*store.SortKeys{
		{Sent: m.Meta.Envelope.Date, Subject: "Quarterly report", From: "alice@example.org", To: "bob@example.com", Cc: "carol@example.net"},
		{},
	}
	if len(got) != 2 || got[0] == nil || got[1] == nil || !got[0].Sent.Equal(want[0].Sent) {
		t.Fatalf("WithSortKeys returned %+v", got)
	}
	got[0].Sent = want[0].Sent
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sort keys:\n got %+v %+v\nwant %+v %+v", got[0], got[1], want[0], want[1])
	}
}

func testThreads(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	inbox := mailbox(t, s, acct, store.Inbox)
	root := msg(1)
	root.Meta = meta("plans", "root@example.org")
	reply := msg(2)
	reply.Meta = meta("plans", "reply@example.org", "root@example.org")
	replyToReply := msg(3)
	replyToReply.Meta = meta("plans", "rr@example.org", "unknown@example.org", "reply@example.org")
	unrelated := msg(4)
	unrelated.Meta = meta("other", "u@example.org", "nobody@example.org")
	if _, err := s.Append(ctx, acct, inbox.ID, []store.NewMessage{root, reply}); err != nil {
		t.Fatal(err)
	}
	sent := mailbox(t, s, acct, "Sent")
	if _, err := s.Append(ctx, acct, sent.ID, []store.NewMessage{replyToReply, unrelated}); err != nil {
		t.Fatal(err)
	}
	// The same message id in another account does not join threads.
	foreign := msg(5)
	foreign.Meta = meta("plans", "f@example.org", "root@example.org")
	if _, err := s.Deliver(ctx, store.Delivery{Key: "f", Account: other, Message: foreign}); err != nil {
		t.Fatal(err)
	}
	msgs := append(list(t, s, acct, inbox.ID), list(t, s, acct, sent.ID)...)
	if msgs[0].ThreadID != msgs[0].EmailID {
		t.Errorf("root: THREADID %d, EMAILID %d", msgs[0].ThreadID, msgs[0].EmailID)
	}
	if msgs[1].ThreadID != msgs[0].ThreadID || msgs[2].ThreadID != msgs[0].ThreadID {
		t.Errorf("replies not in the root's thread: %d %d %d", msgs[0].ThreadID, msgs[1].ThreadID, msgs[2].ThreadID)
	}
	if msgs[3].ThreadID != msgs[3].EmailID {
		t.Errorf("unrelated message joined thread %d", msgs[3].ThreadID)
	}
	f := list(t, s, other, mailbox(t, s, other, store.Inbox).ID)
	if f[0].ThreadID != f[0].EmailID {
		t.Errorf("message of another account joined thread %d", f[0].ThreadID)
	}
}
