package jmap

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
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
	meta     *message.Meta
}

// flags are the email's flags: those of its first copy, since JMAP has
// one set of keywords per Email and Email/set writes them to every copy.
func (e *email) flags() []string { return e.copies[0].Flags }

// index is the account's mailboxes and messages as one request sees them.
type index struct {
	mailboxes []store.Mailbox
	mbByID    map[int64]*store.Mailbox
	mbByName  map[string]*store.Mailbox
	emails    map[int64]*email
	threads   map[int64][]*email // oldest first
	withMeta  bool
}

// index loads the account's index once per request, and again after a
// method changed the store.
func (c *call) index() (*index, error) {
	if c.idx != nil {
		return c.idx, nil
	}
	mbs, err := c.s.Store.Mailboxes(c.ctx, c.acct)
	if err != nil {
		return nil, fmt.Errorf("listing mailboxes: %w", err)
	}
	x := &index{mailboxes: mbs, mbByID: map[int64]*store.Mailbox{}, mbByName: map[string]*store.Mailbox{}, emails: map[int64]*email{}, threads: map[int64][]*email{}}
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
	return x, nil
}

// changed drops the index after the method changed the store.
func (c *call) changed() { c.idx = nil }

// loadMeta attaches the stored metadata to every email of the index,
// one read per mailbox.
func (c *call) loadMeta(x *index) error {
	if x.withMeta {
		return nil
	}
	for _, mb := range x.mailboxes {
		err := c.s.Store.Messages(c.ctx, c.acct, store.Query{Mailbox: mb.ID, WithMeta: true}, func(m *store.Message) error {
			if e := x.emails[m.EmailID]; e != nil && e.meta == nil {
				e.meta = m.Meta
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading metadata of mailbox %d: %w", mb.ID, err)
		}
	}
	x.withMeta = true
	return nil
}

// metaOf returns one email's metadata.
func (c *call) metaOf(e *email) (*message.Meta, error) {
	if e.meta != nil {
		return e.meta, nil
	}
	cp := e.copies[0]
	err := c.s.Store.Messages(c.ctx, c.acct, store.Query{Mailbox: cp.Mailbox, UIDs: []store.UIDRange{{First: cp.UID, Last: cp.UID}}, WithMeta: true}, func(m *store.Message) error {
		e.meta = m.Meta
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading metadata of email %d: %w", e.id, err)
	}
	if e.meta == nil {
		e.meta = &message.Meta{Structure: &message.Part{Type: "text", Subtype: "plain", BodyEnd: e.size}}
	}
	return e.meta, nil
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
