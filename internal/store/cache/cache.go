// Package cache keeps the rows of recently read mailboxes in memory, in
// front of a store.Store, for the commands that read every message of a
// large mailbox: SELECT's UID list, FETCH 1:* (FLAGS), SORT, THREAD and
// SEARCH on dates, sizes and flags. Read from SQLite, such a command costs
// microseconds a row; Dovecot answers them from memory-mapped index files,
// and this is the same idea, rebuilt from the store whenever the process
// starts.
//
// Implementation notes:
//
//   - The store stays the truth. Before each read the cache asks the
//     store's change log (Store.Changes) for the mailbox's entries above
//     the MODSEQ it has applied, and re-reads the rows they name. That is
//     one indexed query when nothing changed, and it sees writes made by
//     other processes on the same store (the admin command line), which a
//     Watch would not.
//   - Re-reading a row is idempotent, so a change committed between the
//     change log query and the re-read is applied early and again later;
//     a named row that is gone was expunged. Like the store's own batched
//     reads, a reader may see some rows in a newer state than others.
//   - Message metadata (envelopes, body structure) is kept apart, by
//     message ID, for the messages queries asked it of (store.MetaCache):
//     a query with metadata on a cached mailbox takes the rows from
//     memory and reads from the store only the metadata it lacks. A
//     client's message list, the newest few dozen messages, is asked
//     for again and again.
//   - A mailbox enters the cache only when a query spans many UIDs, so
//     a FETCH of one message never costs a whole scan. The least recently
//     used mailboxes leave it when it holds more messages than its limit.
//   - Readers share immutable snapshots; a refresh builds a new one, so
//     no lock is held while the caller's function runs.
package cache

import (
	"cmp"
	"container/list"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"casella/internal/message"
	"casella/internal/store"
)

const (
	// DefaultMinSpan is the span of UIDs at which a query reads a whole
	// mailbox into the cache: a FETCH or SEARCH of the whole mailbox
	// spans at least that many; opening a message does not. Reading a
	// mailbox of a hundred rows costs little more than one query, and
	// a mailbox of a few hundred is what a client opens most: its
	// SELECT, first unseen message and FETCH 1:* (FLAGS) then come from
	// memory.
	DefaultMinSpan = 100
	// maxChanges is how many change log entries a refresh applies one by
	// one; past it, reading the mailbox again costs about the same.
	maxChanges = 1000
)

// Options configure a Store.
type Options struct {
	// Limit bounds the messages held over all mailboxes; a message takes
	// about 450 bytes (BenchmarkFill). A mailbox larger than Limit is never
	// cached.
	Limit int
	// MinSpan is how many UIDs a query must span for a mailbox that is
	// not cached yet to be read in whole.
	MinSpan uint64
}

// Store is a store.Store whose Messages serves queries from memory, with
// the metadata it keeps. Other methods go straight to the store it wraps.
type Store struct {
	store.Store
	opts Options

	mu    sync.Mutex
	boxes map[boxKey]*box
	lru   list.List // of *box, most recently used first
	held  int       // messages in the boxes of lru

	metas store.MetaCache

	served, fills atomic.Uint64
}

// Stats describe a Store's cache, for metrics.
type Stats struct {
	Mailboxes, Messages int    // held now
	Served              uint64 // reads answered from memory
	Fills               uint64 // mailboxes read in whole
}

// Stats returns the cache's current size and its counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Mailboxes: len(s.boxes), Messages: s.held, Served: s.served.Load(), Fills: s.fills.Load()}
}

type boxKey struct {
	acct    store.Account
	mailbox int64
}

// box is one cached mailbox.
type box struct {
	key  boxKey
	elem *list.Element // nil once evicted; guarded by Store.mu

	mu     sync.Mutex // serializes fill and refresh
	filled bool
	modseq uint64           // every change at or below it is applied
	msgs   []*store.Message // by ascending UID; never changed in place
}

// New returns a Store in front of inner.
func New(inner store.Store, opts Options) *Store {
	return &Store{Store: inner, opts: opts, boxes: map[boxKey]*box{}}
}

// errGone stops a refresh of a mailbox that was deleted.
var errGone = errors.New("mailbox deleted")

// Messages calls fn for each message the query selects, in UID order.
func (s *Store) Messages(ctx context.Context, acct store.Account, q store.Query, fn func(*store.Message) error) error {
	if s.opts.Limit <= 0 {
		return s.Store.Messages(ctx, acct, q, fn)
	}
	if q.FlagsOnly {
		q.WithMeta, q.WithSortKeys = false, false // as the store ignores them
	}
	ranges := store.NormalizeUIDs(q.UIDs)
	// Metadata is read for a few messages at a time: such a query uses
	// a mailbox cached already, and does not read one in.
	b := s.lookup(boxKey{acct, q.Mailbox}, !q.WithMeta && span(ranges) >= s.opts.MinSpan)
	if b == nil {
		return s.Store.Messages(ctx, acct, q, fn)
	}
	msgs, ok := s.current(ctx, b)
	if !ok {
		return s.Store.Messages(ctx, acct, q, fn)
	}
	if q.WithMeta {
		return s.serveWithMeta(ctx, acct, msgs, ranges, q, fn)
	}
	return serve(msgs, ranges, q, fn)
}

// serveWithMeta serves a query with metadata from the rows msgs, with the
// metadata the cache has and what it lacks read from the store first. A
// message the store no longer has was expunged meanwhile: it is left out,
// as the store would. One the store has without metadata is served
// without.
func (s *Store) serveWithMeta(ctx context.Context, acct store.Account, msgs []*store.Message, ranges []store.UIDRange, q store.Query, fn func(*store.Message) error) error {
	var sel []*store.Message
	each(msgs, ranges, func(m *store.Message) { sel = append(sel, m) })
	metas := make([]*message.Meta, len(sel))
	have := make([]bool, len(sel))
	var missing []uint32
	for i, m := range sel {
		if metas[i], have[i] = s.metas.Get(m.ID); !have[i] {
			missing = append(missing, m.UID)
		}
	}
	if len(missing) > 0 {
		read := map[uint32]*message.Meta{}
		err := s.Store.Messages(ctx, acct, store.Query{Mailbox: q.Mailbox, UIDs: store.UIDRanges(missing), WithMeta: true}, func(m *store.Message) error {
			if m.Meta != nil {
				s.metas.Put(m.ID, m.Meta)
			}
			read[m.UID] = m.Meta
			return nil
		})
		if err != nil {
			return err
		}
		for i, m := range sel {
			if !have[i] {
				metas[i], have[i] = read[m.UID]
			}
		}
	}
	for i, c := range sel {
		if !have[i] {
			continue
		}
		m := *c
		m.Meta = metas[i]
		if !q.WithSortKeys {
			m.SortKeys = nil
		}
		if err := fn(&m); err != nil {
			return err
		}
	}
	return nil
}

// UIDs returns the UIDs of a mailbox's messages, from memory when the
// mailbox is cached: reopening a large mailbox then costs one change log
// query. A mailbox not cached is not read in whole for this.
func (s *Store) UIDs(ctx context.Context, acct store.Account, mailbox int64) ([]uint32, error) {
	b := s.lookup(boxKey{acct, mailbox}, false)
	if b == nil {
		return s.Store.UIDs(ctx, acct, mailbox)
	}
	msgs, ok := s.current(ctx, b)
	if !ok {
		return s.Store.UIDs(ctx, acct, mailbox)
	}
	uids := make([]uint32, len(msgs))
	for i, m := range msgs {
		uids[i] = m.UID
	}
	return uids, nil
}

// span returns how many UIDs the normalized ranges cover; nil covers all.
func span(ranges []store.UIDRange) uint64 {
	if ranges == nil {
		return math.MaxUint64
	}
	var n uint64
	for _, r := range ranges {
		n += uint64(r.Last-r.First) + 1
	}
	return n
}

// lookup returns the mailbox's box and marks it used. A mailbox not cached
// gets a new, empty box when add is true, and nil otherwise.
func (s *Store) lookup(k boxKey, add bool) *box {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.boxes[k]; ok {
		s.lru.MoveToFront(b.elem)
		return b
	}
	if !add {
		return nil
	}
	b := &box{key: k}
	b.elem = s.lru.PushFront(b)
	s.boxes[k] = b
	return b
}

// drop removes b from the cache.
func (s *Store) drop(b *box) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(b)
}

// remove takes b out of the cache; s.mu is held.
func (s *Store) remove(b *box) {
	if b.elem == nil {
		return
	}
	s.lru.Remove(b.elem)
	b.elem = nil
	delete(s.boxes, b.key)
	s.held -= len(b.msgs)
}

// resize records that b now holds msgs, and evicts the least recently used
// mailboxes while the cache holds more than its limit. A mailbox that does
// not fit alone is dropped. It runs with b.mu held.
func (s *Store) resize(b *box, msgs []*store.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.elem != nil {
		s.held += len(msgs) - len(b.msgs)
	}
	b.msgs = msgs
	if len(msgs) > s.opts.Limit {
		s.remove(b)
		return
	}
	for s.held > s.opts.Limit {
		s.remove(s.lru.Back().Value.(*box))
	}
}

// current brings b up to date with the store and returns its messages,
// counted as a read served. When it cannot, b leaves the cache and ok is
// false: the caller asks the store, which answers with what went wrong,
// or the mailbox is back and the next query caches it again.
func (s *Store) current(ctx context.Context, b *box) (msgs []*store.Message, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	if !b.filled {
		err = s.fill(ctx, b)
	} else {
		err = s.refresh(ctx, b)
	}
	if err != nil {
		s.drop(b)
		return nil, false
	}
	s.served.Add(1)
	return b.msgs, true
}

// fill reads the whole mailbox. The change log's highest MODSEQ is read
// first: a change committed during the scan is applied again by the next
// refresh, which does no harm.
func (s *Store) fill(ctx context.Context, b *box) error {
	_, highest, err := s.Store.Changes(ctx, b.key.acct, b.key.mailbox, math.MaxInt64, 1)
	if err != nil {
		return err
	}
	msgs, err := s.read(ctx, b.key, nil)
	if err != nil {
		return err
	}
	b.filled, b.modseq = true, highest
	s.fills.Add(1)
	s.resize(b, msgs)
	return nil
}

// refresh applies the change log entries above b.modseq.
func (s *Store) refresh(ctx context.Context, b *box) error {
	changes, highest, err := s.Store.Changes(ctx, b.key.acct, b.key.mailbox, b.modseq, maxChanges+1)
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		// Nothing changed in this mailbox up to the account's highest
		// MODSEQ, read in the same transaction.
		b.modseq = max(b.modseq, highest)
		return nil
	}
	if len(changes) > maxChanges {
		return s.fill(ctx, b)
	}
	gone := map[uint32]bool{}
	var reread []uint32
	for _, c := range changes {
		switch c.Kind {
		case store.MailboxDeleted:
			return errGone
		case store.MessageExpunged:
			gone[c.UID] = true
		case store.MessageAdded, store.MessageFlagsChanged:
			reread = append(reread, c.UID)
		}
	}
	var fresh []*store.Message
	if len(reread) > 0 {
		slices.Sort(reread)
		if fresh, err = s.read(ctx, b.key, store.UIDRanges(reread)); err != nil {
			return err
		}
	}
	for _, uid := range reread {
		// Named by the log and no longer in the store: expunged since.
		gone[uid] = true
	}
	b.modseq = max(b.modseq, highest)
	s.resize(b, merge(b.msgs, gone, fresh))
	return nil
}

// read reads the rows of the mailbox in ranges (nil: all), with their
// sort keys and without metadata.
func (s *Store) read(ctx context.Context, k boxKey, ranges []store.UIDRange) ([]*store.Message, error) {
	var msgs []*store.Message
	err := s.Store.Messages(ctx, k.acct, store.Query{Mailbox: k.mailbox, UIDs: ranges, WithSortKeys: true}, func(m *store.Message) error {
		c := *m
		c.Flags = slices.Clip(c.Flags) // an append by a caller copies
		msgs = append(msgs, &c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("caching mailbox %d: %w", k.mailbox, err)
	}
	return msgs, nil
}

// merge returns old without the UIDs in gone, with fresh in the place of
// the messages of the same UID, and with fresh ones added, by UID.
func merge(old []*store.Message, gone map[uint32]bool, fresh []*store.Message) []*store.Message {
	byUID := make(map[uint32]*store.Message, len(fresh))
	for _, m := range fresh {
		byUID[m.UID] = m
		delete(gone, m.UID)
	}
	out := make([]*store.Message, 0, len(old)+len(fresh))
	for _, m := range old {
		if f, ok := byUID[m.UID]; ok {
			out = append(out, f)
			delete(byUID, m.UID)
		} else if !gone[m.UID] {
			out = append(out, m)
		}
	}
	sorted := true
	for _, m := range fresh {
		if _, added := byUID[m.UID]; !added {
			continue
		}
		if len(out) > 0 && out[len(out)-1].UID > m.UID {
			sorted = false
		}
		out = append(out, m)
	}
	if !sorted {
		slices.SortFunc(out, func(a, b *store.Message) int { return cmp.Compare(a.UID, b.UID) })
	}
	return out
}

// serve calls fn for the messages of msgs in the normalized ranges, each a
// copy holding what q asks for, as the store would.
func serve(msgs []*store.Message, ranges []store.UIDRange, q store.Query, fn func(*store.Message) error) error {
	var m store.Message // one for all calls: fn gets a pointer, so it escapes
	var err error
	each(msgs, ranges, func(c *store.Message) {
		if err != nil {
			return
		}
		m = *c
		switch {
		case q.FlagsOnly:
			m = store.Message{Mailbox: m.Mailbox, UID: m.UID, ModSeq: m.ModSeq, Flags: m.Flags}
		case !q.WithSortKeys:
			m.SortKeys = nil
		}
		err = fn(&m)
	})
	return err
}

// each calls fn for the messages of msgs in the normalized ranges (nil:
// all), in order.
func each(msgs []*store.Message, ranges []store.UIDRange, fn func(*store.Message)) {
	if ranges == nil {
		ranges = []store.UIDRange{{First: 1, Last: math.MaxUint32}}
	}
	for _, r := range ranges {
		i := sort.Search(len(msgs), func(i int) bool { return msgs[i].UID >= r.First })
		for ; i < len(msgs) && msgs[i].UID <= r.Last; i++ {
			fn(msgs[i])
		}
	}
}
