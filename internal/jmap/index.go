package jmap

import (
	"fmt"
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
// one per mailbox that holds it (RFC 8621 section 4).
type email struct {
	id       int64
	thread   int64
	blob     blob.Key
	size     int64
	received time.Time
	copies   []store.Message // sorted by mailbox id
	sort     store.SortKeys
}

// flags are the email's flags: those of its first copy, since JMAP has
// one set of keywords per Email and Email/set writes them to every copy.
func (e *email) flags() []string { return e.copies[0].Flags }

// index is the account's mailboxes and messages at one state. It is
// read-only once built: requests of the account share it until the state
// moves.
type index struct {
	// state is read before the rest, so what the index holds is never
	// older than it: the state a /get or /query answers with.
	state     string
	mailboxes []store.Mailbox
	mbByID    map[int64]*store.Mailbox
	mbByName  map[string]*store.Mailbox
	emails    map[int64]*email
	threads   map[int64][]*email // oldest first
}

// maxCachedIndexes bounds the accounts whose index is kept between
// requests; each costs about 300 bytes a message.
const maxCachedIndexes = 32

// indexCache keeps the latest index of recently active accounts, so that
// a client's requests at the same state do not read the whole account
// again.
type indexCache struct {
	mu sync.Mutex
	m  map[store.Account]cachedIndex
}

type cachedIndex struct {
	x    *index
	used time.Time
}

func (ic *indexCache) get(acct store.Account, state string) *index {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	ci, ok := ic.m[acct]
	if !ok || ci.x.state != state {
		return nil
	}
	ci.used = time.Now()
	ic.m[acct] = ci
	return ci.x
}

func (ic *indexCache) put(acct store.Account, x *index) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.m == nil {
		ic.m = map[store.Account]cachedIndex{}
	}
	if _, ok := ic.m[acct]; !ok && len(ic.m) >= maxCachedIndexes {
		var oldest store.Account
		var t time.Time
		for a, ci := range ic.m {
			if t.IsZero() || ci.used.Before(t) {
				oldest, t = a, ci.used
			}
		}
		delete(ic.m, oldest)
	}
	ic.m[acct] = cachedIndex{x, time.Now()}
}

// index returns the account's index at its current state: the request's
// own, the cached one if the state has not moved, or a new one.
func (c *call) index() (*index, error) {
	if c.idx != nil {
		return c.idx, nil
	}
	// The state is read before the mailboxes and messages, so a change
	// made meanwhile makes the index newer than its state, never older:
	// the next request rebuilds it.
	state, err := c.state()
	if err != nil {
		return nil, err
	}
	if x := c.s.indexes.get(c.acct, state); x != nil {
		c.idx = x
		return x, nil
	}
	mbs, err := c.s.Store.Mailboxes(c.ctx, c.acct)
	if err != nil {
		return nil, fmt.Errorf("listing mailboxes: %w", err)
	}
	x := &index{state: state, mailboxes: mbs, mbByID: map[int64]*store.Mailbox{}, mbByName: map[string]*store.Mailbox{}, emails: map[int64]*email{}, threads: map[int64][]*email{}}
	for i := range mbs {
		x.mbByID[mbs[i].ID] = &mbs[i]
		x.mbByName[mbs[i].Name] = &mbs[i]
	}
	for _, mb := range mbs {
		err := c.s.Store.Messages(c.ctx, c.acct, store.Query{Mailbox: mb.ID, WithSortKeys: true}, func(m *store.Message) error {
			cp := *m
			cp.Flags = slices.Clone(m.Flags)
			cp.SortKeys, cp.Meta = nil, nil
			e := x.emails[m.EmailID]
			if e == nil {
				e = &email{id: m.EmailID, thread: m.ThreadID, blob: m.Blob, size: m.Size, received: m.Internal}
				if m.SortKeys != nil {
					e.sort = *m.SortKeys
				}
				x.emails[m.EmailID] = e
			}
			e.copies = append(e.copies, cp)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("listing messages of mailbox %d: %w", mb.ID, err)
		}
	}
	for _, e := range x.emails {
		x.threads[e.thread] = append(x.threads[e.thread], e)
	}
	for _, l := range x.threads {
		slices.SortFunc(l, func(a, b *email) int {
			if c := a.received.Compare(b.received); c != 0 {
				return c
			}
			return int(a.id - b.id)
		})
	}
	c.idx = x
	c.s.indexes.put(c.acct, x)
	return x, nil
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

// state is the account's state string: its highest MODSEQ.
func (c *call) state() (string, error) {
	_, highest, err := c.s.Store.Changes(c.ctx, c.acct, 0, math.MaxInt64, 1)
	if err != nil {
		return "", fmt.Errorf("reading the account's state: %w", err)
	}
	return strconv.FormatUint(highest, 10), nil
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
	for _, f := range flags {
		if k, ok := flagKeywords[f]; ok {
			kw[k] = true
		} else if !strings.HasPrefix(f, `\`) {
			kw[strings.ToLower(f)] = true
		}
	}
	return kw
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
