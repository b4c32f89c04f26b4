package postgres

import (
	"fmt"
	"sync"
	"testing"

	"casella/internal/blob"
	"casella/internal/pgtest"
	"casella/internal/store"
)

// TestConcurrentAppendTwoNodes has two stores, standing for two nodes,
// APPEND to one mailbox at the same time, each from several sessions:
// no UID is used twice, UIDs and MODSEQs grow together in the change
// log's order, and every message is there once.
func TestConcurrentAppendTwoNodes(t *testing.T) {
	perNode := 1000
	if testing.Short() {
		perNode = 200
	}
	const sessions = 4 // per node
	ctx := t.Context()
	srv := pgtest.Start(t, pgtest.Options{})
	dsn := srv.CreateDB(t)
	nodes := []*Store{openTest(t, dsn), openTest(t, dsn)}
	if err := nodes[0].EnsureAccount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	inbox, err := nodes[1].Mailbox(ctx, 1, store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	body := func(node, i int) string { return fmt.Sprintf("node %d message %d", node, i) }
	uids := make(chan uint32, 2*perNode)
	var wg sync.WaitGroup
	for n, s := range nodes {
		for sess := range sessions {
			wg.Go(func() {
				for i := sess; i < perNode; i += sessions {
					data := body(n, i)
					got, err := s.Append(ctx, 1, inbox.ID, []store.NewMessage{{Blob: blob.KeyOf([]byte(data)), Size: int64(len(data))}})
					if err != nil {
						t.Errorf("node %d append %d: %v", n, i, err)
						return
					}
					uids <- got[0]
				}
			})
		}
	}
	wg.Wait()
	close(uids)
	if t.Failed() {
		return
	}
	total := 2 * perNode
	seen := map[uint32]bool{}
	for uid := range uids {
		if seen[uid] {
			t.Errorf("UID %d handed out twice", uid)
		}
		seen[uid] = true
	}
	if len(seen) != total {
		t.Fatalf("%d distinct UIDs for %d appends", len(seen), total)
	}

	// In the change log's order, which is commit order, the UID of each
	// addition is higher than the one before.
	changes, highest, err := nodes[0].Changes(ctx, 1, inbox.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var lastModSeq uint64
	var lastUID uint32
	added := 0
	for _, c := range changes {
		if c.ModSeq <= lastModSeq {
			t.Fatalf("MODSEQ %d after %d", c.ModSeq, lastModSeq)
		}
		lastModSeq = c.ModSeq
		if c.Kind != store.MessageAdded {
			continue
		}
		added++
		if c.UID <= lastUID {
			t.Fatalf("UID %d added at MODSEQ %d, after UID %d", c.UID, c.ModSeq, lastUID)
		}
		if !seen[c.UID] {
			t.Errorf("the change log adds UID %d, which no append returned", c.UID)
		}
		lastUID = c.UID
	}
	if added != total || lastModSeq != highest {
		t.Errorf("%d additions in the change log, last MODSEQ %d, highest %d; want %d additions", added, lastModSeq, highest, total)
	}

	// Every message is there once, and the counters agree.
	bodies := map[blob.Key]int{}
	for n := range nodes {
		for i := range perNode {
			bodies[blob.KeyOf([]byte(body(n, i)))] = 0
		}
	}
	var prev uint32
	err = nodes[1].Messages(ctx, 1, store.Query{Mailbox: inbox.ID}, func(m *store.Message) error {
		if m.UID <= prev {
			return fmt.Errorf("UID %d listed after %d", m.UID, prev)
		}
		prev = m.UID
		if _, ok := bodies[m.Blob]; !ok {
			return fmt.Errorf("UID %d holds a message nobody appended", m.UID)
		}
		bodies[m.Blob]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, n := range bodies {
		if n != 1 {
			t.Errorf("message %s stored %d times", k, n)
		}
	}
	mb, err := nodes[0].Mailbox(ctx, 1, store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	if mb.Messages != total || mb.UIDNext != uint32(total)+1 || mb.HighestModSeq != highest {
		t.Errorf("mailbox %+v after %d appends; highest MODSEQ %d", mb, total, highest)
	}
}

// TestConcurrentBatchesTwoNodes has two nodes deliver batches that name
// the same accounts in opposite orders at the same time. Each batch locks
// its accounts' rows; taken in the batch's order, the two would wait for
// each other and PostgreSQL would abort one as a deadlock.
func TestConcurrentBatchesTwoNodes(t *testing.T) {
	const accounts, rounds = 10, 20
	ctx := t.Context()
	srv := pgtest.Start(t, pgtest.Options{})
	dsn := srv.CreateDB(t)
	nodes := []*Store{openTest(t, dsn), openTest(t, dsn)}
	for a := store.Account(1); a <= accounts; a++ {
		if err := nodes[0].EnsureAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for n, s := range nodes {
		wg.Go(func() {
			for r := range rounds {
				var batch []store.Delivery
				for i := range accounts {
					a := store.Account(i + 1)
					if n == 1 {
						a = accounts - store.Account(i)
					}
					batch = append(batch, store.Delivery{Key: fmt.Sprintf("%d/%d/%d", n, r, a), Account: a, Message: testMessage(r)})
				}
				if _, err := s.DeliverBatch(ctx, batch); err != nil {
					t.Errorf("node %d round %d: %v", n, r, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for a := store.Account(1); a <= accounts; a++ {
		mb, err := nodes[1].Mailbox(ctx, a, store.Inbox)
		if err != nil {
			t.Fatal(err)
		}
		if mb.Messages != 2*rounds || mb.UIDNext != 2*rounds+1 {
			t.Errorf("account %d: %+v after %d deliveries", a, mb, 2*rounds)
		}
	}
}

// TestConcurrentWritesOneAccount has two nodes, several sessions each,
// STORE flags in one mailbox and APPEND to another of the same account at
// the same time. No write rewrites the account row: each reads the last
// MODSEQ from the change log after locking the row, and a session that
// waited for the lock must still see the entries of the one before (a
// MODSEQ handed out twice would fail the log's primary key). The
// account's usage is its mailboxes' sums.
func TestConcurrentWritesOneAccount(t *testing.T) {
	const sessions, rounds = 4, 50 // per node
	ctx := t.Context()
	srv := pgtest.Start(t, pgtest.Options{})
	dsn := srv.CreateDB(t)
	nodes := []*Store{openTest(t, dsn), openTest(t, dsn)}
	if err := nodes[0].EnsureAccount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	inbox, err := nodes[0].Mailbox(ctx, 1, store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	other, err := nodes[0].Mailbox(ctx, 1, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	const stored = 2 * sessions
	msgs := make([]store.NewMessage, stored)
	for i := range msgs {
		msgs[i] = testMessage(i)
	}
	if _, err := nodes[0].Append(ctx, 1, inbox.ID, msgs); err != nil {
		t.Fatal(err)
	}
	_, before, err := nodes[0].Changes(ctx, 1, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for n, s := range nodes {
		for sess := range sessions {
			uid := uint32(n*sessions + sess + 1) // each session its own message
			wg.Go(func() {
				for r := range rounds {
					op := store.FlagsAdd
					if r%2 == 1 {
						op = store.FlagsRemove
					}
					res, err := s.UpdateFlags(ctx, 1, store.FlagUpdate{Mailbox: inbox.ID, UIDs: []store.UIDRange{{First: uid, Last: uid}}, Op: op, Flags: []string{store.FlagSeen}})
					if err != nil || len(res.Changed) != 1 {
						t.Errorf("node %d session %d store %d: %+v, %v", n, sess, r, res, err)
						return
					}
					if _, err := s.Append(ctx, 1, other.ID, []store.NewMessage{testMessage(1000 + r)}); err != nil {
						t.Errorf("node %d session %d append %d: %v", n, sess, r, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	changes, highest, err := nodes[1].Changes(ctx, 1, 0, before, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := before
	counts := map[store.ChangeKind]int{}
	for _, c := range changes {
		if c.ModSeq <= last {
			t.Fatalf("MODSEQ %d after %d", c.ModSeq, last)
		}
		last = c.ModSeq
		counts[c.Kind]++
	}
	writes := stored * rounds
	if counts[store.MessageFlagsChanged] != writes || counts[store.MessageAdded] != writes || last != highest {
		t.Errorf("log since %d: %v, last MODSEQ %d, highest %d; want %d flag changes and %d additions", before, counts, last, highest, writes, writes)
	}
	u, err := nodes[1].Usage(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	mbs, err := nodes[1].Mailboxes(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var sum store.Usage
	for _, mb := range mbs {
		sum.Messages += int64(mb.Messages)
		sum.Bytes += mb.Size
	}
	if u != sum || u.Messages != int64(stored+writes) {
		t.Errorf("usage %+v, mailboxes' sums %+v; want %d messages", u, sum, stored+writes)
	}
}
