package imap

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"

	"casella/internal/store"
)

// changesBatch is how many change log entries one store call returns.
const changesBatch = 1000

// view is a session's picture of its selected mailbox: the messages the
// client knows, by sequence number, and how far into the store's change
// log the picture is current.
type view struct {
	mb       store.Mailbox
	readOnly bool // EXAMINE

	// uids[i] is the UID of message sequence number i+1, ascending. It
	// includes messages expunged in the store but not yet announced.
	uids []uint32
	// modseq is the MODSEQ up to which the change log has been applied.
	modseq uint64
	// current says the change log holds nothing for the view up to modseq
	// that it has not applied, as a write of this session found (STORE):
	// the next sync need not read the log.
	current bool
	// exists is the message count last announced to the client.
	exists int

	expunged map[uint32]bool // expunged in the store, EXPUNGE not yet sent
	// held is the MODSEQ before the first expunge in expunged: what the
	// client has been told of goes up to there.
	held    uint64
	changed map[uint32]bool   // flags changed by others, FETCH not yet sent
	own     map[uint32]uint64 // flag changes of this session: UID -> their MODSEQ
	added   []uint32          // UIDs added by the change log, not yet checked for \Recent

	recent   map[uint32]bool // \Recent in this session (recent.go)
	keywords []string        // keywords the last FLAGS response listed (keywords.go)
	told     map[string]bool // spellings known to be among keywords
	saved    []uint32        // UIDs of the saved search result, ascending (searchres.go)
}

// seq returns the sequence number of uid, or 0 if the client does not know
// the message.
func (v *view) seq(uid uint32) uint32 {
	i, ok := slices.BinarySearch(v.uids, uid)
	if !ok {
		return 0
	}
	return uint32(i + 1)
}

// selectMailbox loads a view of the mailbox. The change log position is
// read before the messages, so a change racing the load is applied again
// by the next sync rather than lost; applying a change twice is harmless.
// With since > 0 it also returns the messages whose MODSEQ is above since,
// for QRESYNC (RFC 7162 section 3.2.5).
func (c *conn) selectMailbox(ctx context.Context, name string, readOnly bool, since uint64) (*view, []store.Message, error) {
	mb, err := c.srv.Store.Mailbox(ctx, c.acct.ID, name)
	if err != nil {
		return nil, nil, fmt.Errorf("select %q: %w", name, err)
	}
	_, high, err := c.srv.Store.Changes(ctx, c.acct.ID, mb.ID, math.MaxInt64, 1)
	if err != nil {
		return nil, nil, fmt.Errorf("select %q: reading change log position: %w", name, err)
	}
	v := &view{mb: mb, readOnly: readOnly, modseq: high,
		expunged: map[uint32]bool{}, changed: map[uint32]bool{}, own: map[uint32]uint64{}, recent: map[uint32]bool{}}
	var changed []store.Message
	if since == 0 {
		v.uids, err = c.srv.Store.UIDs(ctx, c.acct.ID, mb.ID)
	} else {
		err = c.srv.Store.Messages(ctx, c.acct.ID, store.Query{Mailbox: mb.ID}, func(m *store.Message) error {
			v.uids = append(v.uids, m.UID)
			if m.ModSeq > since {
				changed = append(changed, *m)
			}
			return nil
		})
	}
	if err != nil {
		return nil, nil, fmt.Errorf("select %q: listing messages: %w", name, err)
	}
	v.exists = len(v.uids)
	if v.keywords, err = c.srv.Store.Keywords(ctx, c.acct.ID, mb.ID); err != nil {
		return nil, nil, fmt.Errorf("select %q: %w", name, err)
	}
	recent, err := c.claimRecentOf(ctx, v, mb.RecentMark, v.uids)
	if err != nil {
		return nil, nil, fmt.Errorf("select %q: %w", name, err)
	}
	for _, uid := range recent {
		v.recent[uid] = true
	}
	return v, changed, nil
}

func (c *conn) unselect() {
	c.sel = nil
	if c.state == stateSelected {
		c.state = stateAuth
	}
}

// sync applies the change log since the view's MODSEQ and writes the
// untagged EXPUNGE (or VANISHED), EXISTS, RECENT and FETCH responses it
// calls for. Expunges are announced only when allowExpunge (RFC 9051
// section 7.5.1).
func (c *conn) sync(ctx context.Context, allowExpunge bool) error {
	v := c.sel
	for !v.current {
		changes, high, err := c.srv.Store.Changes(ctx, c.acct.ID, v.mb.ID, v.modseq, changesBatch)
		if err != nil {
			return fmt.Errorf("reading changes: %w", err)
		}
		for _, ch := range changes {
			v.apply(ch)
		}
		if v.mb.ID == 0 {
			c.bye("[NONEXISTENT] The selected mailbox was deleted")
			return nil
		}
		if len(changes) < changesBatch {
			// The mailbox's changes up to the account's highest MODSEQ,
			// read with them, are all applied: the view is current there,
			// so that a write of this session that finds the account at
			// that MODSEQ can tell that only its own changes followed.
			v.modseq = max(v.modseq, high)
			break
		}
	}
	v.current = false
	if allowExpunge && len(v.expunged) > 0 {
		c.announceExpunged(slices.Collect(maps.Keys(v.expunged)))
		clear(v.expunged)
	}
	if err := c.claimRecent(ctx); err != nil {
		return err
	}
	if len(v.uids) != v.exists {
		c.writeLine("* %d EXISTS", len(v.uids))
		if !c.rev2 {
			c.writeLine("* %d RECENT", len(v.recent)) // RFC 3501 section 7.3.2
		}
		v.exists = len(v.uids)
	}
	if len(v.changed) == 0 {
		return nil
	}
	var uids []uint32
	for uid := range v.changed {
		if !v.expunged[uid] {
			uids = append(uids, uid)
		}
	}
	clear(v.changed)
	if len(uids) == 0 {
		return nil
	}
	slices.Sort(uids)
	var msgs []store.Message
	err := c.srv.Store.Messages(ctx, c.acct.ID, store.Query{Mailbox: v.mb.ID, UIDs: store.UIDRanges(uids)}, func(m *store.Message) error {
		msgs = append(msgs, *m)
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading changed flags: %w", err)
	}
	for _, m := range msgs {
		if seq := v.seq(m.UID); seq != 0 {
			c.writeFlags(seq, &m)
		}
	}
	return nil
}

// announcedModSeq is the HIGHESTMODSEQ to tell the client: not past an
// expunge it has not been told of, or a client resynchronising from it
// (RFC 7162 section 3.2.5) would never learn of that expunge.
func (v *view) announcedModSeq() uint64 {
	if len(v.expunged) > 0 {
		return v.held
	}
	return max(v.modseq, v.mb.HighestModSeq)
}

// apply records one change log entry in the view.
func (v *view) apply(ch store.Change) {
	v.modseq = max(v.modseq, ch.ModSeq)
	switch ch.Kind {
	case store.MessageAdded:
		i, found := slices.BinarySearch(v.uids, ch.UID)
		if !found {
			v.uids = slices.Insert(v.uids, i, ch.UID)
			v.added = append(v.added, ch.UID)
		}
	case store.MessageFlagsChanged:
		if m, ok := v.own[ch.UID]; ok && ch.ModSeq <= m {
			if ch.ModSeq == m {
				delete(v.own, ch.UID)
			}
			return
		}
		if v.seq(ch.UID) != 0 {
			v.changed[ch.UID] = true
		}
	case store.MessageExpunged:
		if v.seq(ch.UID) != 0 {
			if len(v.expunged) == 0 {
				v.held = ch.ModSeq - 1
			}
			v.expunged[ch.UID] = true
		}
	case store.MailboxDeleted:
		if ch.UID == 0 {
			v.mb.ID = 0
		}
	}
}

// writeFlags writes an untagged FETCH with a message's flags, and its
// MODSEQ once CONDSTORE is enabled (RFC 7162 section 3.2.4).
func (c *conn) writeFlags(seq uint32, m *store.Message) {
	e := c.enc()
	if !c.fetchHead(e, seq, m.UID) {
		e.raw("UID ").num(m.UID).sp()
	}
	e.raw("FLAGS ").flagList(c.flagsOf(m))
	if c.condstore {
		e.raw(" MODSEQ (").raw(fmt.Sprint(m.ModSeq)).raw(")")
	}
	c.writeBytes(e.raw(")").b)
}

// resolve turns a sequence set (or a UID set for UID commands) into the
// UIDs of the messages it names that the client knows, ascending. A
// sequence number beyond the mailbox is an error; UIDs that do not exist
// are ignored (RFC 9051 section 6.4.9). "$" names the saved search result
// in both forms (RFC 5182 section 2.1).
func (v *view) resolve(set seqSet, uid bool) ([]uint32, error) {
	if set.saved {
		return slices.DeleteFunc(slices.Clone(v.saved), func(u uint32) bool { return v.seq(u) == 0 }), nil
	}
	if len(v.uids) == 0 {
		if uid {
			return nil, nil
		}
		return nil, errBad("", "The mailbox is empty, no message sequence numbers are valid")
	}
	n := uint32(len(v.uids))
	star := n
	if uid {
		star = v.uids[n-1]
	}
	// Each range becomes an interval of indexes into v.uids; merged, they
	// give the UIDs in order. The work grows with the set and what it
	// names, not with the mailbox: a FETCH of one message of a large
	// mailbox allocates no table of it.
	spans := make([][2]int, 0, len(set.ranges)) // [lo, hi) of indexes
	for _, r := range set.ranges {
		first, last := r.bounds(star)
		if !uid {
			if last > n {
				return nil, errBad("", "Message sequence number %d does not exist, the mailbox has %d messages", last, n)
			}
			spans = append(spans, [2]int{int(first - 1), int(last)})
			continue
		}
		lo, _ := slices.BinarySearch(v.uids, first)
		hi, found := slices.BinarySearch(v.uids[lo:], last)
		hi += lo
		if found {
			hi++
		}
		if lo < hi {
			spans = append(spans, [2]int{lo, hi})
		}
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	var out []uint32
	next := 0 // indexes below it are out already
	for _, sp := range spans {
		lo := max(sp[0], next)
		if lo < sp[1] {
			out = append(out, v.uids[lo:sp[1]]...)
			next = sp[1]
		}
	}
	return out, nil
}

// ranges turns ascending UIDs of the view into store ranges, merging runs
// that are adjacent in the view: no message the client does not know lies
// between them, since new messages only get higher UIDs.
func (v *view) ranges(uids []uint32) []store.UIDRange {
	var r []store.UIDRange
	prev, i := -1, 0
	for _, u := range uids {
		// Both lists ascend: one walk finds each UID's place in the view.
		for i < len(v.uids) && v.uids[i] < u {
			i++
		}
		if n := len(r); n > 0 && i == prev+1 {
			r[n-1].Last = u
		} else {
			r = append(r, store.UIDRange{First: u, Last: u})
		}
		prev = i
	}
	return r
}
