package sqlite

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"casella/internal/blob"
	"casella/internal/message"
	"casella/internal/store"
)

// benchMessage is a message with metadata the size a parser produces for a
// typical mail with one attachment.
func benchMessage(n int) store.NewMessage {
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

func benchStore(b *testing.B) (*Store, int64) {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.EnsureAccount(b.Context(), 1); err != nil {
		b.Fatal(err)
	}
	mb, err := s.Mailbox(b.Context(), 1, store.Inbox)
	if err != nil {
		b.Fatal(err)
	}
	return s, mb.ID
}

// fill appends n messages in batches of 1000.
func fill(b *testing.B, s *Store, mailbox int64, n int) {
	b.Helper()
	for i := 0; i < n; i += 1000 {
		batch := make([]store.NewMessage, 0, 1000)
		for j := i; j < min(n, i+1000); j++ {
			m := benchMessage(j)
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

// BenchmarkDeliver measures one durable delivery per operation.
func BenchmarkDeliver(b *testing.B) {
	s, _ := benchStore(b)
	i := 0
	for b.Loop() {
		if _, err := s.Deliver(b.Context(), store.Delivery{Key: fmt.Sprint(i), Account: 1, Message: benchMessage(i)}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkDeliverBatchSpread measures intake's deliveries: batches of 64
// spread over 100 accounts, with keys that begin with the arrival time as
// spool entry ids do, into a store that already holds 20,000 of them.
func BenchmarkDeliverBatchSpread(b *testing.B) {
	s, _ := benchStore(b)
	const accounts, batchSize = 100, 64
	for a := store.Account(2); a <= accounts; a++ {
		if err := s.EnsureAccount(b.Context(), a); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	deliver := func() {
		batch := make([]store.Delivery, batchSize)
		for j := range batch {
			batch[j] = store.Delivery{Key: fmt.Sprintf("%020d-bench/0", i), Account: store.Account(i%accounts + 1), Message: benchMessage(i)}
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

// BenchmarkAppendBatch measures appending 100 messages in one transaction
// per operation.
func BenchmarkAppendBatch(b *testing.B) {
	s, mailbox := benchStore(b)
	i := 0
	for b.Loop() {
		batch := make([]store.NewMessage, 100)
		for j := range batch {
			batch[j] = benchMessage(i)
			i++
		}
		if _, err := s.Append(b.Context(), 1, mailbox, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/msg")
}

// BenchmarkMessagesScan100k measures what UID FETCH 1:* (FLAGS) needs from
// the store: one scan of a 100,000-message mailbox without metadata.
func BenchmarkMessagesScan100k(b *testing.B) {
	s, mailbox := benchStore(b)
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

// BenchmarkMailbox100k measures what SELECT needs from the store on a
// 100,000-message mailbox: its counters.
func BenchmarkMailbox100k(b *testing.B) {
	s, mailbox := benchStore(b)
	fill(b, s, mailbox, 100_000)
	for b.Loop() {
		if mb, err := s.Mailbox(b.Context(), 1, store.Inbox); err != nil || mb.Messages != 100_000 {
			b.Fatalf("%+v, %v", mb, err)
		}
	}
}

// BenchmarkUpdateFlags measures STORE +FLAGS on one message of a
// 10,000-message mailbox.
func BenchmarkUpdateFlags(b *testing.B) {
	s, mailbox := benchStore(b)
	const n = 10_000
	fill(b, s, mailbox, n)
	i := 0
	for b.Loop() {
		uid := uint32(i%n) + 1
		op := store.FlagsAdd
		if (i/n)%2 == 1 {
			op = store.FlagsRemove
		}
		if _, err := s.UpdateFlags(b.Context(), 1, store.FlagUpdate{Mailbox: mailbox, UIDs: []store.UIDRange{{First: uid, Last: uid}}, Op: op, Flags: []string{store.FlagFlagged}}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkWriteParallel measures IMAP's writes from many sessions at
// once, on one account and spread over many: what group commit is for.
// One operation is one STORE, one APPEND, one COPY, or an APPEND of a
// \Deleted message followed by its EXPUNGE.
func BenchmarkWriteParallel(b *testing.B) {
	const perAccount = 200
	ops := []struct {
		name string
		run  func(s *Store, acct store.Account, box parallelBoxes, i int) error
	}{
		{"Store", func(s *Store, acct store.Account, box parallelBoxes, i int) error {
			uid := uint32(i%perAccount) + 1
			op := store.FlagsAdd
			if (i/perAccount)%2 == 1 {
				op = store.FlagsRemove
			}
			_, err := s.UpdateFlags(b.Context(), acct, store.FlagUpdate{Mailbox: box.inbox,
				UIDs: []store.UIDRange{{First: uid, Last: uid}}, Op: op, Flags: []string{store.FlagSeen}})
			return err
		}},
		{"Append", func(s *Store, acct store.Account, box parallelBoxes, i int) error {
			_, err := s.Append(b.Context(), acct, box.inbox, []store.NewMessage{benchMessage(i)})
			return err
		}},
		{"Expunge", func(s *Store, acct store.Account, box parallelBoxes, i int) error {
			m := benchMessage(i)
			m.Flags = []string{store.FlagDeleted}
			uids, err := s.Append(b.Context(), acct, box.inbox, []store.NewMessage{m})
			if err != nil {
				return err
			}
			_, err = s.Expunge(b.Context(), acct, box.inbox, []store.UIDRange{{First: uids[0], Last: uids[0]}})
			return err
		}},
		{"Copy", func(s *Store, acct store.Account, box parallelBoxes, i int) error {
			uid := uint32(i%perAccount) + 1
			_, err := s.Copy(b.Context(), acct, box.inbox, []store.UIDRange{{First: uid, Last: uid}}, box.archive)
			return err
		}},
	}
	for _, accounts := range []int{1, 50} {
		b.Run(fmt.Sprintf("accounts=%d", accounts), func(b *testing.B) {
			s, _ := benchStore(b)
			boxes := make([]parallelBoxes, accounts)
			for a := range boxes {
				acct := store.Account(a + 1)
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
					batch[j] = benchMessage(j)
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
							if err := op.run(s, store.Account(a+1), boxes[a], i/accounts); err != nil {
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
