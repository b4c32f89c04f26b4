package cache

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"casella/internal/blob"
	"casella/internal/message"
	"casella/internal/store"
	"casella/internal/store/sqlite"
	"casella/internal/store/storetest"
)

const acct store.Account = 1

// openSQLite opens a SQLite store at path, closed when the test ends.
func openSQLite(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the store's conformance suite through a cache that
// takes in every mailbox at the first query, so that every read the suite
// checks after a write is served from memory.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		inner := openSQLite(t, filepath.Join(t.TempDir(), "store.db"))
		return New(inner, Options{Limit: 1000, MinSpan: 1})
	})
}

// counting counts the Messages and UIDs calls that reach the store.
type counting struct {
	store.Store
	calls atomic.Int64
}

func (c *counting) UIDs(ctx context.Context, a store.Account, mailbox int64) ([]uint32, error) {
	c.calls.Add(1)
	return c.Store.UIDs(ctx, a, mailbox)
}

func (c *counting) Messages(ctx context.Context, a store.Account, q store.Query, fn func(*store.Message) error) error {
	c.calls.Add(1)
	return c.Store.Messages(ctx, a, q, fn)
}

// fixture is a cached store over SQLite with an INBOX of n messages, and
// a second handle on the same database file, as another process has.
type fixture struct {
	inner *counting
	cache *Store
	other *sqlite.Store
	inbox int64
}

func newFixture(t *testing.T, n int, opts Options) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	f := &fixture{inner: &counting{Store: openSQLite(t, path)}, other: openSQLite(t, path)}
	f.cache = New(f.inner, opts)
	ctx := t.Context()
	if err := f.cache.EnsureAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	mb, err := f.cache.Mailbox(ctx, acct, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	f.inbox = mb.ID
	f.add(t, f.cache, f.inbox, n)
	return f
}

// add appends n messages through s.
func (f *fixture) add(t *testing.T, s store.Store, mailbox int64, n int) {
	t.Helper()
	msgs := make([]store.NewMessage, n)
	for i := range msgs {
		msgs[i] = store.NewMessage{
			Blob: blob.Key(fmt.Sprintf("%064x", i+1)), Size: int64(100 + i),
			Internal: time.Unix(int64(1_700_000_000+i), 0),
		}
	}
	if _, err := s.Append(t.Context(), acct, mailbox, msgs); err != nil {
		t.Fatal(err)
	}
}

// all reads every message of the mailbox through s with q.
func all(t *testing.T, s store.Store, q store.Query) []store.Message {
	t.Helper()
	var l []store.Message
	if err := s.Messages(t.Context(), acct, q, func(m *store.Message) error {
		l = append(l, *m)
		return nil
	}); err != nil {
		t.Fatalf("Messages: %v", err)
	}
	return l
}

// same checks that the cache answers q as the store itself does.
func (f *fixture) same(t *testing.T, q store.Query) []store.Message {
	t.Helper()
	got, want := all(t, f.cache, q), all(t, f.other, q)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("cache gave %d messages, store %d; first difference:\n%s", len(got), len(want), firstDiff(got, want))
	}
	return got
}

func firstDiff(got, want []store.Message) string {
	for i := range min(len(got), len(want)) {
		if !reflect.DeepEqual(got[i], want[i]) {
			return fmt.Sprintf("cache %+v\nstore %+v", got[i], want[i])
		}
	}
	return "one list is a prefix of the other"
}

func TestServesFromMemory(t *testing.T) {
	f := newFixture(t, 50, Options{Limit: 1000, MinSpan: 10})
	q := store.Query{Mailbox: f.inbox, WithSortKeys: true}
	f.same(t, q)
	before := f.inner.calls.Load()
	for _, q := range []store.Query{
		q,
		{Mailbox: f.inbox, FlagsOnly: true},
		{Mailbox: f.inbox, UIDs: []store.UIDRange{{First: 3, Last: 7}, {First: 40, Last: 0}}},
		{Mailbox: f.inbox, UIDs: []store.UIDRange{}},
	} {
		f.same(t, q)
	}
	uids, err := f.cache.UIDs(t.Context(), acct, f.inbox)
	if want, _ := f.other.UIDs(t.Context(), acct, f.inbox); err != nil || !reflect.DeepEqual(uids, want) {
		t.Errorf("UIDs = %v, %v; want %v", uids, err, want)
	}
	// f.same read the store itself through f.other, not f.inner.
	if n := f.inner.calls.Load() - before; n != 0 {
		t.Errorf("%d queries reached the store after the mailbox was cached", n)
	}
	if st := f.cache.Stats(); st != (Stats{Mailboxes: 1, Messages: 50, Served: 6, Fills: 1}) {
		t.Errorf("Stats = %+v, want 1 mailbox of 50 messages, 6 reads served, 1 fill", st)
	}
}

func TestSmallQueriesAndMetaGoToStore(t *testing.T) {
	f := newFixture(t, 50, Options{Limit: 1000, MinSpan: 10})
	for _, q := range []store.Query{
		{Mailbox: f.inbox, UIDs: []store.UIDRange{{First: 1, Last: 5}}},
		{Mailbox: f.inbox, WithMeta: true},
	} {
		before := f.inner.calls.Load()
		f.same(t, q)
		if n := f.inner.calls.Load() - before; n != 1 {
			t.Errorf("%+v: %d queries reached the store, want 1", q, n)
		}
	}
	if len(f.cache.boxes) != 0 {
		t.Errorf("%d mailboxes cached, want none", len(f.cache.boxes))
	}
}

// TestSeesOtherWriters changes the mailbox through a second handle on the
// database, as the admin command line does from its own process: the cache
// must follow the change log, not its own writes.
func TestSeesOtherWriters(t *testing.T) {
	f := newFixture(t, 50, Options{Limit: 1000, MinSpan: 1})
	ctx := t.Context()
	f.same(t, store.Query{Mailbox: f.inbox})

	steps := []struct {
		name string
		do   func() error
	}{
		{"flags", func() error {
			_, err := f.other.UpdateFlags(ctx, acct, store.FlagUpdate{Mailbox: f.inbox, UIDs: []store.UIDRange{{First: 10, Last: 20}},
				Op: store.FlagsAdd, Flags: []string{store.FlagSeen, store.FlagDeleted, "$Label1"}})
			return err
		}},
		{"expunge", func() error {
			_, err := f.other.Expunge(ctx, acct, f.inbox, []store.UIDRange{{First: 15, Last: 30}})
			return err
		}},
		{"append", func() error { f.add(t, f.other, f.inbox, 5); return nil }},
		{"move", func() error {
			trash, err := f.other.Mailbox(ctx, acct, "Trash")
			if err != nil {
				return err
			}
			_, err = f.other.Move(ctx, acct, f.inbox, []store.UIDRange{{First: 1, Last: 3}}, trash.ID)
			return err
		}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		// UIDs first: it must bring the cached mailbox up to date itself.
		got, err := f.cache.UIDs(ctx, acct, f.inbox)
		if want, _ := f.other.UIDs(ctx, acct, f.inbox); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("after %s: UIDs = %v, %v; want %v", st.name, got, err, want)
		}
		f.same(t, store.Query{Mailbox: f.inbox, WithSortKeys: true})
		f.same(t, store.Query{Mailbox: f.inbox, FlagsOnly: true})
	}
	if got := len(f.same(t, store.Query{Mailbox: f.inbox})); got != 50-6-3+5 {
		t.Errorf("%d messages after the changes, want %d", got, 50-6-3+5)
	}
}

func TestManyChangesRefill(t *testing.T) {
	f := newFixture(t, maxChanges+200, Options{Limit: 10 * maxChanges, MinSpan: 1})
	f.same(t, store.Query{Mailbox: f.inbox})
	if _, err := f.other.UpdateFlags(t.Context(), acct, store.FlagUpdate{Mailbox: f.inbox, Op: store.FlagsAdd, Flags: []string{store.FlagFlagged}}); err != nil {
		t.Fatal(err)
	}
	f.same(t, store.Query{Mailbox: f.inbox, FlagsOnly: true})
}

func TestDeletedMailbox(t *testing.T) {
	f := newFixture(t, 0, Options{Limit: 1000, MinSpan: 1})
	ctx := t.Context()
	mb, err := f.cache.CreateMailbox(ctx, acct, "Lists", "")
	if err != nil {
		t.Fatal(err)
	}
	f.add(t, f.cache, mb.ID, 10)
	if n := len(all(t, f.cache, store.Query{Mailbox: mb.ID})); n != 10 {
		t.Fatalf("%d messages, want 10", n)
	}
	if err := f.other.DeleteMailbox(ctx, acct, "Lists"); err != nil {
		t.Fatal(err)
	}
	err = f.cache.Messages(ctx, acct, store.Query{Mailbox: mb.ID}, func(*store.Message) error { return nil })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Messages of a deleted mailbox: %v, want ErrNotFound", err)
	}
	if len(f.cache.boxes) != 0 {
		t.Errorf("the deleted mailbox is still cached")
	}
	// Another account never reads this one's mailboxes, cached or not.
	err = f.cache.Messages(ctx, acct+1, store.Query{Mailbox: f.inbox}, func(*store.Message) error { return nil })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Messages of another account's mailbox: %v, want ErrNotFound", err)
	}
}

func TestLimit(t *testing.T) {
	f := newFixture(t, 30, Options{Limit: 50, MinSpan: 1})
	ctx := t.Context()
	lists, err := f.cache.CreateMailbox(ctx, acct, "Lists", "")
	if err != nil {
		t.Fatal(err)
	}
	big, err := f.cache.CreateMailbox(ctx, acct, "Big", "")
	if err != nil {
		t.Fatal(err)
	}
	f.add(t, f.cache, lists.ID, 30)
	f.add(t, f.cache, big.ID, 60)

	f.same(t, store.Query{Mailbox: f.inbox})
	f.same(t, store.Query{Mailbox: lists.ID}) // evicts INBOX: 60 > 50
	if _, ok := f.cache.boxes[boxKey{acct, f.inbox}]; ok {
		t.Error("INBOX, the least recently used, is still cached")
	}
	f.same(t, store.Query{Mailbox: big.ID}) // larger than the limit alone
	if _, ok := f.cache.boxes[boxKey{acct, big.ID}]; ok {
		t.Error("a mailbox larger than the limit is cached")
	}
	if f.cache.held > 50 {
		t.Errorf("the cache holds %d messages, limit 50", f.cache.held)
	}
	held := 0
	for _, b := range f.cache.boxes {
		held += len(b.msgs)
	}
	if held != f.cache.held {
		t.Errorf("the cache counts %d messages and holds %d", f.cache.held, held)
	}
}

// TestConcurrent reads through the cache while another handle changes the
// mailbox; run it with -race. Once the writes stop, the cache must agree
// with the store.
func TestConcurrent(t *testing.T) {
	f := newFixture(t, 200, Options{Limit: 1000, MinSpan: 1})
	ctx := t.Context()
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				var last uint32
				err := f.cache.Messages(ctx, acct, store.Query{Mailbox: f.inbox, FlagsOnly: true}, func(m *store.Message) error {
					if m.UID <= last {
						return fmt.Errorf("uid %d after %d", m.UID, last)
					}
					last = m.UID
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := range 30 {
		uid := uint32(i*5 + 1)
		if _, err := f.other.UpdateFlags(ctx, acct, store.FlagUpdate{Mailbox: f.inbox, UIDs: []store.UIDRange{{First: uid, Last: uid + 3}},
			Op: store.FlagsAdd, Flags: []string{store.FlagDeleted}}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.other.Expunge(ctx, acct, f.inbox, []store.UIDRange{{First: uid, Last: uid + 1}}); err != nil {
			t.Fatal(err)
		}
		f.add(t, f.other, f.inbox, 2)
	}
	close(done)
	wg.Wait()
	f.same(t, store.Query{Mailbox: f.inbox, WithSortKeys: true})
}

// BenchmarkFill reads a 20,000-message mailbox into the cache and reports
// the heap it takes per message, the figure behind Options.Limit's doc:
//
//	go test -run '^$' -bench Fill -benchtime 3x ./internal/store/cache/
func BenchmarkFill(b *testing.B) {
	const n = 20_000
	inner := openSQLite(b, filepath.Join(b.TempDir(), "store.db"))
	ctx := b.Context()
	if err := inner.EnsureAccount(ctx, acct); err != nil {
		b.Fatal(err)
	}
	mb, err := inner.Mailbox(ctx, acct, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i += 1000 {
		msgs := make([]store.NewMessage, 1000)
		for j := range msgs {
			meta := message.Parse(fmt.Appendf(nil, "From: Sender %d <sender%d@example.org>\r\nTo: rcpt@example.com\r\nSubject: message number %d about something\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\nbody\r\n", i+j, i+j, i+j))
			msgs[j] = store.NewMessage{Blob: blob.Key(fmt.Sprintf("%064x", i+j+1)), Size: 5000, Flags: []string{store.FlagSeen}, Meta: meta}
		}
		if _, err := inner.Append(ctx, acct, mb.ID, msgs); err != nil {
			b.Fatal(err)
		}
	}
	var perMsg float64
	for b.Loop() {
		c := New(inner, Options{Limit: n, MinSpan: 1})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if err := c.Messages(ctx, acct, store.Query{Mailbox: mb.ID, FlagsOnly: true}, func(*store.Message) error { return nil }); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perMsg = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(c)
	}
	b.ReportMetric(perMsg, "heap-B/msg")
}

// TestMetaFromMemory checks that a query with metadata on a cached
// mailbox reads from the store only the metadata the cache lacks, and
// answers as the store does: after another process expunged a message,
// and for a message stored without metadata.
func TestMetaFromMemory(t *testing.T) {
	f := newFixture(t, 0, Options{Limit: 1000, MinSpan: 1})
	ctx := t.Context()
	msgs := make([]store.NewMessage, 8)
	for i := range msgs {
		msgs[i] = store.NewMessage{
			Blob: blob.Key(fmt.Sprintf("%064x", i+1)), Size: int64(100 + i), Internal: time.Unix(int64(1_700_000_000+i), 0),
			Meta: &message.Meta{Envelope: message.Envelope{Subject: fmt.Sprintf("message %d", i+1)}, Preview: "hello"},
		}
	}
	if _, err := f.cache.Append(ctx, acct, f.inbox, msgs); err != nil {
		t.Fatal(err)
	}
	f.same(t, store.Query{Mailbox: f.inbox}) // caches the mailbox
	q := store.Query{Mailbox: f.inbox, UIDs: []store.UIDRange{{First: 3, Last: 6}}, WithMeta: true}
	calls := f.inner.calls.Load()
	if got := f.same(t, q); len(got) != 4 || got[0].Meta == nil || got[0].Meta.Envelope.Subject != "message 3" {
		t.Fatalf("first read with metadata: %+v", got)
	}
	if n := f.inner.calls.Load() - calls; n != 1 {
		t.Fatalf("first read with metadata reached the store %d times, want 1", n)
	}
	calls = f.inner.calls.Load()
	f.same(t, q)
	if n := f.inner.calls.Load() - calls; n != 0 {
		t.Fatalf("second read with metadata reached the store %d times, want 0", n)
	}
	// Another process expunges message 4 and adds one without metadata.
	if _, err := f.other.UpdateFlags(ctx, acct, store.FlagUpdate{Mailbox: f.inbox, UIDs: []store.UIDRange{{First: 4, Last: 4}},
		Op: store.FlagsAdd, Flags: []string{store.FlagDeleted}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.other.Expunge(ctx, acct, f.inbox, []store.UIDRange{{First: 4, Last: 4}}); err != nil {
		t.Fatal(err)
	}
	f.add(t, f.other, f.inbox, 1)
	if got := f.same(t, store.Query{Mailbox: f.inbox, WithMeta: true}); len(got) != 8 || got[7].Meta != nil {
		t.Fatalf("read with metadata after an expunge and a message without: %+v", got)
	}
}
