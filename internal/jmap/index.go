package jmap

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"casella/internal/blob"
	"casella/internal/message"
	"casella/internal/store"
)

// email is one JMAP Email: the store's messages that share an EMAILID,
// one per mailbox that holds it (RFC 8621 section 4). An email in a
// shared index is never modified: a change makes a new one.
type email struct {
	id       int64
	thread   int64
	blob     blob.Key
	size     int64
	received time.Time
	copies   []store.Message // sorted by mailbox id
	sort     store.SortKeys
}

// newEmail is the email of a message, without its copies.
func newEmail(m *store.Message) *email {
	e := &email{id: m.EmailID, thread: m.ThreadID, blob: m.Blob, size: m.Size, received: m.Internal}
	if m.SortKeys != nil {
		e.sort = *m.SortKeys
	}
	return e
}

// copyOf is what the index keeps of a message: the store reuses m.
func copyOf(m *store.Message) store.Message {
	cp := *m
	cp.Flags = slices.Clone(m.Flags)
	cp.SortKeys, cp.Meta = nil, nil
	return cp
}

// flags are the email's flags: those of its first copy, since JMAP has
// one set of keywords per Email and Email/set writes them to every copy.
func (e *email) flags() []string { return e.copies[0].Flags }

// newerFirst is the default order of Email/query: received last first,
// then by id, so that the order is total and stable across requests.
func newerFirst(a, b *email) int {
	if r := b.received.Compare(a.received); r != 0 {
		return r
	}
	return cmp.Compare(b.id, a.id)
}

// index is the account's mailboxes and messages at one state. It is
// read-only once made: requests of the account share it, and a newer
// state makes a new index that shares the emails that did not change.
type index struct {
	// state is read before the rest, so what the index holds is never
	// older than it: the state a /get or /query answers with.
	state     string
	modseq    uint64
	mailboxes []store.Mailbox
	mbByID    map[int64]*store.Mailbox
	mbByName  map[string]*store.Mailbox
	emails    map[int64]*email
	threads   map[int64][]*email // oldest first
	// newest is every email in newerFirst order, so that a query in the
	// default order needs no sort.
	newest []*email
	// gone remembers the thread of emails destroyed while the index
	// followed the log, most recent last, for /queryChanges over threads;
	// at most maxGone.
	gone      map[int64]int64
	goneOrder []int64
	// counts are the threads and unread threads of each mailbox, made
	// on first use (threadCounts).
	countsOnce sync.Once
	counts     map[int64][2]int
}

// maxGone bounds index.gone.
const maxGone = 10_000

func newIndex(modseq uint64, mbs []store.Mailbox) *index {
	x := &index{state: strconv.FormatUint(modseq, 10), modseq: modseq, mailboxes: mbs, mbByID: map[int64]*store.Mailbox{}, mbByName: map[string]*store.Mailbox{}}
	for i := range mbs {
		x.mbByID[mbs[i].ID] = &mbs[i]
		x.mbByName[mbs[i].Name] = &mbs[i]
	}
	return x
}

func sortThread(l []*email) {
	slices.SortFunc(l, func(a, b *email) int { return -newerFirst(a, b) })
}

func sortCopies(l []store.Message) {
	slices.SortFunc(l, func(a, b store.Message) int { return cmp.Compare(a.Mailbox, b.Mailbox) })
}

// Index memory: an email with one copy costs about 530 bytes in the
// index (TestIndexMemory fails above 1,200), so 100,000 messages take
// about 53 MB and the bound below about 265 MB. The cache is bounded by
// the emails it holds, not by accounts (one account larger than the
// bound is still kept alone), and forgets an account idle for
// indexIdle.
const (
	maxCachedEmails = 500_000
	indexIdle       = 10 * time.Minute
)

// indexCache keeps the latest index of recently active accounts, so that
// a client's next request reads only the changes since.
type indexCache struct {
	mu     sync.Mutex
	m      map[store.Account]*cachedIndex
	emails int         // emails held by all cached indexes
	sweep  *time.Timer // forgets idle accounts while the cache is not empty
}

type cachedIndex struct {
	x    *index
	used time.Time
}

// latest returns the account's cached index, at whatever state.
func (ic *indexCache) latest(acct store.Account) *index {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	ci := ic.m[acct]
	if ci == nil {
		return nil
	}
	ci.used = time.Now()
	return ci.x
}

// put caches x unless a newer index of the account is cached.
func (ic *indexCache) put(acct store.Account, x *index) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.m == nil {
		ic.m = map[store.Account]*cachedIndex{}
	}
	if ci := ic.m[acct]; ci != nil {
		if ci.x.modseq > x.modseq {
			return
		}
		ic.emails -= len(ci.x.emails)
	}
	ic.m[acct] = &cachedIndex{x, time.Now()}
	ic.emails += len(x.emails)
	for ic.emails > maxCachedEmails && len(ic.m) > 1 {
		var oldest store.Account
		var t time.Time
		for a, ci := range ic.m {
			if a != acct && (t.IsZero() || ci.used.Before(t)) {
				oldest, t = a, ci.used
			}
		}
		ic.drop(oldest)
	}
	if ic.sweep == nil {
		ic.sweep = time.AfterFunc(indexIdle, ic.forgetIdle)
	}
}

func (ic *indexCache) drop(acct store.Account) {
	ic.emails -= len(ic.m[acct].x.emails)
	delete(ic.m, acct)
}

// forgetIdle drops the indexes of accounts idle for indexIdle.
func (ic *indexCache) forgetIdle() {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	for a, ci := range ic.m {
		if time.Since(ci.used) >= indexIdle {
			ic.drop(a)
		}
	}
	ic.sweep = nil
	if len(ic.m) > 0 {
		ic.sweep = time.AfterFunc(indexIdle, ic.forgetIdle)
	}
}

// index returns the account's index at its current state: the request's
// own, the cached one if the state has not moved, the cached one brought
// forward by the change log, or a new one.
func (c *call) index() (*index, error) {
	if c.idx != nil {
		return c.idx, nil
	}
	highest, err := c.modseq()
	if err != nil {
		return nil, err
	}
	x := c.s.indexes.latest(c.acct)
	switch {
	case x != nil && x.modseq >= highest:
		// Another request of the account may have cached a newer one.
	case x != nil:
		if x, err = c.advance(x); err != nil {
			return nil, err
		}
	default:
		x = nil
	}
	if x == nil {
		if x, err = c.build(highest); err != nil {
			return nil, err
		}
	}
	c.idx = x
	c.s.indexes.put(c.acct, x)
	return x, nil
}

// build reads the whole account. The state is read before the mailboxes
// and messages, so a change made meanwhile makes the index newer than
// its state, never older; following the log from that state applies the
// change again, which changes nothing.
func (c *call) build(modseq uint64) (*index, error) {
	mbs, err := c.s.Store.Mailboxes(c.ctx, c.acct)
	if err != nil {
		return nil, fmt.Errorf("listing mailboxes: %w", err)
	}
	x := newIndex(modseq, mbs)
	x.emails, x.threads = map[int64]*email{}, map[int64][]*email{}
	for _, mb := range mbs {
		err := c.s.Store.Messages(c.ctx, c.acct, store.Query{Mailbox: mb.ID, WithSortKeys: true}, func(m *store.Message) error {
			e := x.emails[m.EmailID]
			if e == nil {
				e = newEmail(m)
				x.emails[m.EmailID] = e
			}
			e.copies = append(e.copies, copyOf(m))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("listing messages of mailbox %d: %w", mb.ID, err)
		}
	}
	x.newest = make([]*email, 0, len(x.emails))
	for _, e := range x.emails {
		if len(e.copies) > 1 {
			sortCopies(e.copies)
		}
		x.threads[e.thread] = append(x.threads[e.thread], e)
		x.newest = append(x.newest, e)
	}
	for _, l := range x.threads {
		sortThread(l)
	}
	slices.SortFunc(x.newest, newerFirst)
	return x, nil
}

// maxReplay is how many log entries an index follows rather than being
// built again: beyond, reading the account is cheaper.
func maxReplay(x *index) int { return max(1000, len(x.emails)/4) }

// advance makes the index of the account's current state from old and
// the change log since old's state (RFC 8620 section 5.2's changes, as
// IMAP QRESYNC reads them): the messages that a logged change touched
// are read again, in one query per mailbox, and every other email is
// shared with old. It returns nil when the log holds too many changes
// since old's state.
func (c *call) advance(old *index) (*index, error) {
	limit := maxReplay(old)
	log, highest, err := c.s.Store.Changes(c.ctx, c.acct, 0, old.modseq, limit+1)
	if err != nil {
		return nil, fmt.Errorf("reading the change log: %w", err)
	}
	if len(log) > limit {
		return nil, nil
	}
	mbs, err := c.s.Store.Mailboxes(c.ctx, c.acct)
	if err != nil {
		return nil, fmt.Errorf("listing mailboxes: %w", err)
	}
	x := newIndex(highest, mbs)
	touched := map[int64][]uint32{} // UIDs by mailbox
	stale := map[[2]int64]bool{}    // (mailbox, UID) whose copy is read again
	affected := map[int64]*email{}  // the new email of each email touched; nil: gone
	for _, ch := range log {
		if ch.UID == 0 {
			continue
		}
		touched[ch.Mailbox] = append(touched[ch.Mailbox], ch.UID)
		stale[[2]int64{ch.Mailbox, int64(ch.UID)}] = true
		affected[ch.EmailID] = nil
	}
	for id := range affected {
		if oe := old.emails[id]; oe != nil {
			ne := *oe
			ne.copies = slices.DeleteFunc(slices.Clone(oe.copies), func(cp store.Message) bool {
				return stale[[2]int64{cp.Mailbox, int64(cp.UID)}]
			})
			affected[id] = &ne
		}
	}
	for mb, uids := range touched {
		if x.mbByID[mb] == nil {
			continue // deleted: its messages' expunges are logged
		}
		err := c.s.Store.Messages(c.ctx, c.acct, store.Query{Mailbox: mb, UIDs: uidRanges(uids), WithSortKeys: true}, func(m *store.Message) error {
			e := affected[m.EmailID]
			if e == nil {
				e = newEmail(m)
				affected[m.EmailID] = e
			}
			e.copies = append(e.copies, copyOf(m))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading changed messages of mailbox %d: %w", mb, err)
		}
	}
	x.emails = maps.Clone(old.emails)
	x.threads = maps.Clone(old.threads)
	x.gone, x.goneOrder = old.gone, old.goneOrder
	threads := map[int64]bool{}
	var fresh, destroyed []*email
	for id, e := range affected {
		if oe := old.emails[id]; oe != nil {
			threads[oe.thread] = true
		}
		if e == nil || len(e.copies) == 0 {
			if oe := old.emails[id]; oe != nil {
				delete(x.emails, id)
				destroyed = append(destroyed, oe)
			}
			continue
		}
		sortCopies(e.copies)
		x.emails[id] = e
		threads[e.thread] = true
		fresh = append(fresh, e)
	}
	x.remember(destroyed)
	for t := range threads {
		var l []*email
		for _, e := range old.threads[t] {
			if _, ok := affected[e.id]; !ok {
				l = append(l, e)
			}
		}
		for _, e := range fresh {
			if e.thread == t {
				l = append(l, e)
			}
		}
		if len(l) == 0 {
			delete(x.threads, t)
			continue
		}
		sortThread(l)
		x.threads[t] = l
	}
	// The newest list: old's without the affected emails, merged with
	// their new versions.
	slices.SortFunc(fresh, newerFirst)
	x.newest = make([]*email, 0, len(x.emails))
	for _, e := range old.newest {
		if _, ok := affected[e.id]; ok {
			continue
		}
		for len(fresh) > 0 && newerFirst(fresh[0], e) < 0 {
			x.newest, fresh = append(x.newest, fresh[0]), fresh[1:]
		}
		x.newest = append(x.newest, e)
	}
	x.newest = append(x.newest, fresh...)
	return x, nil
}

// remember records the threads of destroyed emails in x.gone, in a new
// map: older indexes share the old one.
func (x *index) remember(destroyed []*email) {
	if len(destroyed) == 0 {
		return
	}
	order := slices.Clip(x.goneOrder)
	g := map[int64]int64{}
	for _, e := range destroyed {
		order = append(order, e.id)
		g[e.id] = e.thread
	}
	if len(order) > maxGone {
		order = order[len(order)-maxGone:]
	}
	for _, id := range order {
		if _, ok := g[id]; !ok {
			g[id] = x.gone[id]
		}
	}
	x.gone, x.goneOrder = g, order
}

// uidRanges turns UIDs into the fewest ranges.
func uidRanges(uids []uint32) []store.UIDRange {
	slices.Sort(uids)
	var l []store.UIDRange
	for _, u := range slices.Compact(uids) {
		if n := len(l); n > 0 && l[n-1].Last+1 == u {
			l[n-1].Last = u
		} else {
			l = append(l, store.UIDRange{First: u, Last: u})
		}
	}
	return l
}

// changed drops the index after the method changed the store.
func (c *call) changed() { c.idx = nil }

// loadMeta reads the stored metadata of every email of the index, one
// read per mailbox, into the call: the shared index stays read-only.
func (c *call) loadMeta(x *index) error {
	if c.allMeta {
		return nil
	}
	if c.metas == nil {
		c.metas = map[int64]*message.Meta{}
	}
	for _, mb := range x.mailboxes {
		err := c.s.Store.Messages(c.ctx, c.acct, store.Query{Mailbox: mb.ID, WithMeta: true}, func(m *store.Message) error {
			if _, ok := c.metas[m.EmailID]; !ok && m.Meta != nil {
				c.metas[m.EmailID] = m.Meta
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading metadata of mailbox %d: %w", mb.ID, err)
		}
	}
	c.allMeta = true
	return nil
}

// loadMetaOf reads the stored metadata of some emails into the call, one
// query per mailbox rather than one per email.
func (c *call) loadMetaOf(l []*email) error {
	if c.allMeta {
		return nil
	}
	if c.metas == nil {
		c.metas = map[int64]*message.Meta{}
	}
	uids := map[int64][]uint32{}
	for _, e := range l {
		if c.metas[e.id] == nil {
			cp := e.copies[0]
			uids[cp.Mailbox] = append(uids[cp.Mailbox], cp.UID)
		}
	}
	for mb, l := range uids {
		err := c.s.Store.Messages(c.ctx, c.acct, store.Query{Mailbox: mb, UIDs: uidRanges(l), WithMeta: true}, func(m *store.Message) error {
			if m.Meta != nil {
				c.metas[m.EmailID] = m.Meta
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading metadata of mailbox %d: %w", mb, err)
		}
	}
	return nil
}

// metaOf returns one email's metadata.
func (c *call) metaOf(e *email) (*message.Meta, error) {
	if m := c.metas[e.id]; m != nil {
		return m, nil
	}
	if c.metas == nil {
		c.metas = map[int64]*message.Meta{}
	}
	cp := e.copies[0]
	var meta *message.Meta
	err := c.s.Store.Messages(c.ctx, c.acct, store.Query{Mailbox: cp.Mailbox, UIDs: []store.UIDRange{{First: cp.UID, Last: cp.UID}}, WithMeta: true}, func(m *store.Message) error {
		meta = m.Meta
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading metadata of email %d: %w", e.id, err)
	}
	if meta == nil {
		// Stored without metadata: described as RFC 2045's default.
		meta = &message.Meta{Structure: &message.Part{Type: "text", Subtype: "plain", BodyEnd: e.size}}
	}
	c.metas[e.id] = meta
	return meta, nil
}

// modseq is the account's highest MODSEQ: its state.
func (c *call) modseq() (uint64, error) {
	_, highest, err := c.s.Store.Changes(c.ctx, c.acct, 0, math.MaxInt64, 1)
	if err != nil {
		return 0, fmt.Errorf("reading the account's state: %w", err)
	}
	return highest, nil
}

// state is the account's state string.
func (c *call) state() (string, error) {
	highest, err := c.modseq()
	return strconv.FormatUint(highest, 10), err
}

// Ids as IMAP OBJECTID spells them (RFC 8474).
func mailboxID(id int64) string { return "M" + strconv.FormatInt(id, 10) }
func emailID(id int64) string   { return "E" + strconv.FormatInt(id, 10) }
func threadID(id int64) string  { return "T" + strconv.FormatInt(id, 10) }

// parseID reads an id of the given prefix; 0 when it is not one.
func parseID(prefix byte, id string) int64 {
	if len(id) < 2 || id[0] != prefix {
		return 0
	}
	n, err := strconv.ParseInt(id[1:], 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// Keywords and IMAP flags (RFC 8621 section 4.1.1): the system flags map
// to $-keywords; \Deleted and \Recent have no JMAP counterpart and are
// kept out of sight.
var flagKeywords = map[string]string{
	store.FlagSeen:     "$seen",
	store.FlagAnswered: "$answered",
	store.FlagFlagged:  "$flagged",
	store.FlagDraft:    "$draft",
}

func keywordsOf(flags []string) map[string]bool {
	kw := map[string]bool{}
	for _, k := range appendKeywords(nil, flags) {
		kw[k] = true
	}
	return kw
}

// appendKeywords returns the keywords of flags, sorted and each once,
// in dst's storage.
func appendKeywords(dst, flags []string) []string {
	dst = dst[:0]
	for _, f := range flags {
		if k, ok := flagKeywords[f]; ok {
			dst = append(dst, k)
		} else if !strings.HasPrefix(f, `\`) {
			dst = append(dst, strings.ToLower(f))
		}
	}
	slices.Sort(dst)
	return slices.Compact(dst)
}

// flagOf maps a keyword to the flag the store keeps.
func flagOf(keyword string) string {
	k := strings.ToLower(keyword)
	for f, kw := range flagKeywords {
		if kw == k {
			return f
		}
	}
	return k
}

// validKeyword checks a keyword (RFC 8621 section 4.1.1: IMAP atom
// characters, no "(", ")", "{", "]", "%", "*", '"' or "\").
func validKeyword(k string) bool {
	if k == "" || len(k) > 255 {
		return false
	}
	for _, c := range []byte(k) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){]%*"\`, c) >= 0 {
			return false
		}
	}
	return true
}

func hasKeyword(flags []string, keyword string) bool {
	f := flagOf(keyword)
	for _, g := range flags {
		if strings.EqualFold(g, f) {
			return true
		}
	}
	return false
}
