package storetest

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"casella/internal/blob"
	"casella/internal/message"
	"casella/internal/store"
)

// Bench runs the store benchmarks, the same bodies for every
// implementation so that their figures compare. open returns a new, empty
// store for one benchmark and arranges for it to be closed when it ends.
func Bench(b *testing.B, open func(b *testing.B) store.Store) {
	benches := []struct {
		name string
		fn   func(b *testing.B, s store.Store, mailbox int64)
	}{
		{"Deliver", benchDeliver},
		{"DeliverBatchSpread", benchDeliverBatchSpread},
		{"AppendBatch", benchAppendBatch},
		{"AppendParallel", benchAppendParallel},
		{"MessagesScan100k", benchMessagesScan100k},
		{"Mailbox100k", benchMailbox100k},
		{"ChangesNone", benchChangesNone},
		{"FetchEnvelopes", benchFetchEnvelopes},
		{"UpdateFlags", benchUpdateFlags},
		{"UpdateFlagsParallel", benchUpdateFlagsParallel},
		{"WriteParallel", benchWriteParallel},
	}
	for _, bc := range benches {
		b.Run(bc.name, func(b *testing.B) {
			s := open(b)
			if err := s.EnsureAccount(b.Context(), 1); err != nil {
				b.Fatal(err)
			}
			mb, err := s.Mailbox(b.Context(), 1, store.Inbox)
			if err != nil {
				b.Fatal(err)
			}
			bc.fn(b, s, mb.ID)
		})
	}
}

// BenchMessage is a message with metadata the size a parser produces for a
// typical mail with one attachment.
func BenchMessage(n int) store.NewMessage {
	data := fmt.Sprintf("benchmark message %d", n)
	return store.NewMessage{
		Blob: blob.KeyOf([]byte(data)),
		Size: 24_000 + int64(n%1000),
		Meta: &message.Meta{
			Envelope: message.Envelope{
				Date:      time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
				RawDate:   "Mon, 6 May 2024 07:08:09 +0000",
				Subject:   fmt.Sprintf("Re: quarterly figures, part %d", n),
				From:      []message.Address{{Name: "Alice Example", Local: "alice", Host: "example.org"}},
				To:        []message.Address{{Name: "Bob", Local: "bob", Host: "example.com"}, {Local: "team", Host: "example.com"}},
				Cc:        []message.Address{{Local: "carol", Host: "example.net"}},
				MessageID: fmt.Sprintf("<%d.bench@example.org>", n),
				InReplyTo: fmt.Sprintf("<%d.bench@example.org>", n-1),
			},
			Structure: &message.Part{
				Type: "multipart", Subtype: "mixed", Params: map[string]string{"boundary": "----=_Part_1234"},
				BodyStart: 900, BodyEnd: 24_000,
				Parts: []*message.Part{
					{Type: "multipart", Subtype: "alternative", Params: map[string]string{"boundary": "----=_Part_5678"}, HeaderStart: 950, BodyStart: 1000, BodyEnd: 6000,
						Parts: []*message.Part{
							{Type: "text", Subtype: "plain", Params: map[string]string{"charset": "utf-8"}, Encoding: "quoted-printable", HeaderStart: 1050, BodyStart: 1150, BodyEnd: 3000, Lines: 40},
							{Type: "text", Subtype: "html", Params: map[string]string{"charset": "utf-8"}, Encoding: "quoted-printable", HeaderStart: 3050, BodyStart: 3150, BodyEnd: 5900, Lines: 60},
						}},
					{Type: "application", Subtype: "pdf", Params: map[string]string{"name": "figures.pdf"}, Disposition: "attachment",
						DispositionParams: map[string]string{"filename": "figures.pdf"}, Encoding: "base64", HeaderStart: 6050, BodyStart: 6200, BodyEnd: 23_900, Lines: 230},
				},
			},
			References:    []string{fmt.Sprintf("%d.bench@example.org", n-1)},
			BaseSubject:   fmt.Sprintf("quarterly figures, part %d", n),
			Preview:       "Hi Bob, please find attached the figures for the quarter. The numbers for the north region are still preliminary.",
			HasAttachment: true,
		},
	}
}

// fill appends n messages in batches of 1000.
func fill(b *testing.B, s store.Store, mailbox int64, n int) {
	b.Helper()
	for i := 0; i < n; i += 1000 {
		batch := make([]store.NewMessage, 0, 1000)
		for j := i; j < min(n, i+1000); j++ {
			m := BenchMessage(j)
			if j%3 == 0 {
				m.Flags = []string{store.FlagSeen}
			}
			batch = append(batch, m)
		}
		if _, err := s.Append(b.Context(), 1, mailbox, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// benchDeliver measures one durable delivery per operation.
func benchDeliver(b *testing.B, s store.Store, _ int64) {
	i := 0
	for b.Loop() {
		if _, err := s.Deliver(b.Context(), store.Delivery{Key: fmt.Sprint(i), Account: 1, Message: BenchMessage(i)}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// benchDeliverBatchSpread measures intake's deliveries: batches of 64
// spread over 100 accounts, with keys that begin with the arrival time as
// spool entry ids do, into a store that already holds 20,000 of them.
func benchDeliverBatchSpread(b *testing.B, s store.Store, _ int64) {
	const accounts, batchSize = 100, 64
	ensureAccounts(b, s, accounts)
	i := 0
	deliver := func() {
		batch := make([]store.Delivery, batchSize)
		for j := range batch {
			batch[j] = store.Delivery{Key: fmt.Sprintf("%020d-bench/0", i), Account: store.Account(i%accounts + 1), Message: BenchMessage(i)}
			i++
		}
		if _, err := s.DeliverBatch(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	for range 20000 / batchSize {
		deliver()
	}
	for b.Loop() {
		deliver()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batchSize), "ns/msg")
}

// benchAppendBatch measures appending 100 messages in one transaction
// per operation.
func benchAppendBatch(b *testing.B, s store.Store, mailbox int64) {
	i := 0
	for b.Loop() {
		batch := make([]store.NewMessage, 100)
		for j := range batch {
			batch[j] = BenchMessage(i)
			i++
		}
		if _, err := s.Append(b.Context(), 1, mailbox, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/msg")
}

// parallelAccounts is how many accounts the parallel benchmarks spread
// over: many users writing at once, each to their own mailboxes.
const parallelAccounts = 64

// benchAppendParallel measures APPENDs of one message each from many
// goroutines (8 per CPU), each to the INBOX of an account of its own.
func benchAppendParallel(b *testing.B, s store.Store, _ int64) {
	inboxes := ensureAccounts(b, s, parallelAccounts)
	var next atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		g := int(next.Add(1))
		acct := store.Account(g%parallelAccounts + 1)
		for i := 0; pb.Next(); i++ {
			if _, err := s.Append(b.Context(), acct, inboxes[acct], []store.NewMessage{BenchMessage(g*1_000_000 + i)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// benchMessagesScan100k measures what UID FETCH 1:* (FLAGS) needs from
// the store: one scan of a 100,000-message mailbox without metadata.
func benchMessagesScan100k(b *testing.B, s store.Store, mailbox int64) {
	const n = 100_000
	fill(b, s, mailbox, n)
	for b.Loop() {
		count := 0
		err := s.Messages(b.Context(), 1, store.Query{Mailbox: mailbox}, func(m *store.Message) error {
			count++
			return nil
		})
		if err != nil || count != n {
			b.Fatalf("scanned %d messages: %v", count, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/msg")
}

// benchMailbox100k measures what SELECT needs from the store on a
// 100,000-message mailbox: its counters.
func benchMailbox100k(b *testing.B, s store.Store, mailbox int64) {
	fill(b, s, mailbox, 100_000)
	for b.Loop() {
		if mb, err := s.Mailbox(b.Context(), 1, store.Inbox); err != nil || mb.Messages != 100_000 {
			b.Fatalf("%+v, %v", mb, err)
		}
	}
}

// benchChangesNone measures what an IMAP session reads after each command
// with a mailbox selected: the change log since its position, where
// nothing is new. The limit alternates, as between a session's reads and
// the row cache's: a statement that SQLite prepares again when a
// parameter's value changes shows here.
func benchChangesNone(b *testing.B, s store.Store, mailbox int64) {
	fill(b, s, mailbox, 200)
	_, high, err := s.Changes(b.Context(), 1, mailbox, math.MaxInt64, 1)
	if err != nil {
		b.Fatal(err)
	}
	limit := 1
	for b.Loop() {
		limit = 1001 - limit
		if l, h, err := s.Changes(b.Context(), 1, mailbox, high, limit); err != nil || len(l) != 0 || h != high {
			b.Fatalf("%d changes, highest %d (want %d): %v", len(l), h, high, err)
		}
	}
}

// benchFetchEnvelopes measures a client's message list: the rows and
// metadata of the 20 newest messages of a 200-message mailbox, read again
// and again as clients do.
func benchFetchEnvelopes(b *testing.B, s store.Store, mailbox int64) {
	fill(b, s, mailbox, 200)
	q := store.Query{Mailbox: mailbox, UIDs: []store.UIDRange{{First: 181, Last: 200}}, WithMeta: true}
	for b.Loop() {
		n := 0
		err := s.Messages(b.Context(), 1, q, func(m *store.Message) error {
			if m.Meta == nil {
				return fmt.Errorf("uid %d: no metadata", m.UID)
			}
			n++
			return nil
		})
		if err != nil || n != 20 {
			b.Fatalf("read %d messages: %v", n, err)
		}
	}
}

// benchUpdateFlags measures STORE +FLAGS on one message of a
// 10,000-message mailbox.
func benchUpdateFlags(b *testing.B, s store.Store, mailbox int64) {
	const n = 10_000
	fill(b, s, mailbox, n)
	i := 0
	for b.Loop() {
		if err := toggleFlag(b, s, 1, mailbox, n, i); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// benchUpdateFlagsParallel measures STORE +FLAGS on one message at a time
// from many goroutines (8 per CPU), each in a 100-message mailbox of an
// account of its own. The testing package runs a parallel benchmark's
// setup again for every round, so the mailboxes stay small.
func benchUpdateFlagsParallel(b *testing.B, s store.Store, _ int64) {
	const n = 100
	inboxes := ensureAccounts(b, s, parallelAccounts)
	for a := store.Account(1); a <= parallelAccounts; a++ {
		batch := make([]store.NewMessage, n)
		for j := range batch {
			batch[j] = BenchMessage(int(a)*n + j)
		}
		if _, err := s.Append(b.Context(), a, inboxes[a], batch); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		acct := store.Account(next.Add(1)%parallelAccounts + 1)
		for i := 0; pb.Next(); i++ {
			if err := toggleFlag(b, s, acct, inboxes[acct], n, i); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// toggleFlag sets \Flagged on the i-th message of a mailbox of n, and
// removes it on the next pass over the mailbox.
func toggleFlag(b *testing.B, s store.Store, acct store.Account, mailbox int64, n, i int) error {
	uid := uint32(i%n) + 1
	op := store.FlagsAdd
	if (i/n)%2 == 1 {
		op = store.FlagsRemove
	}
	_, err := s.UpdateFlags(b.Context(), acct, store.FlagUpdate{Mailbox: mailbox, UIDs: []store.UIDRange{{First: uid, Last: uid}}, Op: op, Flags: []string{store.FlagFlagged}})
	return err
}

// ensureAccounts creates accounts 1 to n and returns their INBOX IDs.
func ensureAccounts(b *testing.B, s store.Store, n int) map[store.Account]int64 {
	inboxes := map[store.Account]int64{}
	for a := store.Account(1); a <= store.Account(n); a++ {
		if err := s.EnsureAccount(b.Context(), a); err != nil {
			b.Fatal(err)
		}
		mb, err := s.Mailbox(b.Context(), a, store.Inbox)
		if err != nil {
			b.Fatal(err)
		}
		inboxes[a] = mb.ID
	}
	return inboxes
}

// benchWriteParallel measures IMAP's writes from many sessions at once,
// on one account and spread over many: what the embedded store's group
// commit is for. One operation is one STORE, one APPEND, one COPY, or an
// APPEND of a \Deleted message followed by its EXPUNGE.
func benchWriteParallel(b *testing.B, s store.Store, _ int64) {
	const perAccount = 200
	ops := []struct {
		name string
		run  func(acct store.Account, box parallelBoxes, i int) error
	}{
		{"Store", func(acct store.Account, box parallelBoxes, i int) error {
			uid := uint32(i%perAccount) + 1
			op := store.FlagsAdd
			if (i/perAccount)%2 == 1 {
				op = store.FlagsRemove
			}
			_, err := s.UpdateFlags(b.Context(), acct, store.FlagUpdate{Mailbox: box.inbox,
				UIDs: []store.UIDRange{{First: uid, Last: uid}}, Op: op, Flags: []string{store.FlagSeen}})
			return err
		}},
		{"Append", func(acct store.Account, box parallelBoxes, i int) error {
			_, err := s.Append(b.Context(), acct, box.inbox, []store.NewMessage{BenchMessage(i)})
			return err
		}},
		{"Expunge", func(acct store.Account, box parallelBoxes, i int) error {
			m := BenchMessage(i)
			m.Flags = []string{store.FlagDeleted}
			uids, err := s.Append(b.Context(), acct, box.inbox, []store.NewMessage{m})
			if err != nil {
				return err
			}
			_, err = s.Expunge(b.Context(), acct, box.inbox, []store.UIDRange{{First: uids[0], Last: uids[0]}})
			return err
		}},
		{"Copy", func(acct store.Account, box parallelBoxes, i int) error {
			uid := uint32(i%perAccount) + 1
			_, err := s.Copy(b.Context(), acct, box.inbox, []store.UIDRange{{First: uid, Last: uid}}, box.archive)
			return err
		}},
	}
	for _, accounts := range []int{1, 50} {
		b.Run(fmt.Sprintf("accounts=%d", accounts), func(b *testing.B) {
			base := store.Account(accounts * 1000)
			boxes := make([]parallelBoxes, accounts)
			for a := range boxes {
				acct := base + store.Account(a+1)
				if err := s.EnsureAccount(b.Context(), acct); err != nil {
					b.Fatal(err)
				}
				inbox, err1 := s.Mailbox(b.Context(), acct, store.Inbox)
				archive, err2 := s.Mailbox(b.Context(), acct, "Archive")
				if err := errors.Join(err1, err2); err != nil {
					b.Fatal(err)
				}
				boxes[a] = parallelBoxes{inbox.ID, archive.ID}
				batch := make([]store.NewMessage, perAccount)
				for j := range batch {
					batch[j] = BenchMessage(j)
				}
				if _, err := s.Append(b.Context(), acct, inbox.ID, batch); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			for _, op := range ops {
				b.Run(op.name, func(b *testing.B) {
					// 32 sessions per core, each waiting for its write
					// as an IMAP session waits before its tagged reply.
					b.SetParallelism(32)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							i := int(next.Add(1))
							a := i % accounts
							if err := op.run(base+store.Account(a+1), boxes[a], i/accounts); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
			}
		})
	}
}

// parallelBoxes are the mailboxes of one account of BenchmarkWriteParallel.
type parallelBoxes struct{ inbox, archive int64 }
