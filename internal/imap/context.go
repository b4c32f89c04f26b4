package imap

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"casella/internal/store"
)

// CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 section 4): PARTIAL returns a
// window of a result, and UPDATE keeps a result current: after each
// command, and during IDLE, a changed mailbox has its live searches run
// again and the differences sent as ADDTO and REMOVEFROM. Updates are kept
// for UID SEARCH and UID SORT only; a result by sequence number would have
// to be renumbered around every EXPUNGE, so those get NO [NOUPDATE]
// (section 4.2), as do searches past maxLiveSearches.

// maxLiveSearches bounds the searches a session keeps updated: each is run
// again whenever the mailbox changes.
const maxLiveSearches = 5

// liveSearch is a result the client asked to be kept up to date.
type liveSearch struct {
	tag      string
	root     *searchKey
	sort     *sortArgs // nil for SEARCH
	uids     []uint32  // the result as the client holds it, in its order
	modseq   uint64    // the view's MODSEQ the result is current to
	searched time.Time
}

// liveSearches are the live searches of one view; a new SELECT or a CLOSE
// ends them (section 4.2).
type liveSearches struct {
	view     *view
	searches []*liveSearch
}

// keepUpdated registers the result of a SEARCH or SORT with UPDATE.
func (c *conn) keepUpdated(cmd *command, root *searchKey, sort *sortArgs, uids []uint32) {
	if c.live.view != c.sel {
		c.live = liveSearches{view: c.sel}
	}
	c.live.searches = slices.DeleteFunc(c.live.searches, func(s *liveSearch) bool { return s.tag == cmd.tag })
	switch {
	case !cmd.uid:
		c.noUpdate(cmd.tag, "UPDATE is kept for UID SEARCH and UID SORT only")
	case len(c.live.searches) >= maxLiveSearches:
		c.noUpdate(cmd.tag, "Too many searches are kept updated, CANCELUPDATE one first")
	default:
		c.live.searches = append(c.live.searches, &liveSearch{tag: cmd.tag, root: root, sort: sort,
			uids: uids, modseq: c.sel.modseq, searched: time.Now()})
	}
}

func (c *conn) noUpdate(tag, text string) {
	e := c.enc()
	e.raw("* NO [NOUPDATE ").str(tag).raw("] ").raw(text)
	c.writeBytes(e.b)
}

// cmdCancelUpdate serves CANCELUPDATE "tag" *(SP "tag") (section 4.2).
func (c *conn) cmdCancelUpdate(cmd *command) error {
	var tags []string
	for {
		if err := c.p.sp(); err != nil {
			return err
		}
		tag, err := c.p.quoted()
		if err != nil {
			return err
		}
		tags = append(tags, tag)
		if end, err := c.p.atEnd(); err != nil || end {
			if err != nil {
				return err
			}
			break
		}
	}
	if err := c.p.end(); err != nil {
		return err
	}
	if c.live.view != c.sel {
		c.live = liveSearches{view: c.sel}
	}
	for _, tag := range tags {
		if !slices.ContainsFunc(c.live.searches, func(s *liveSearch) bool { return s.tag == tag }) {
			return errBad("", "No search tagged %s is kept updated", tag)
		}
	}
	c.live.searches = slices.DeleteFunc(c.live.searches, func(s *liveSearch) bool { return slices.Contains(tags, s.tag) })
	return nil
}

// updateLiveSearches runs the live searches again when the mailbox has
// changed since their result, and sends what changed.
func (c *conn) updateLiveSearches(ctx context.Context) error {
	v := c.sel
	if v == nil || c.live.view != v {
		return nil
	}
	for _, s := range c.live.searches {
		if s.modseq == v.modseq {
			continue
		}
		var uids []uint32
		var err error
		if s.sort != nil {
			uids, err = c.runSort(ctx, s.sort, true)
		} else {
			err = c.eachMatch(ctx, s.root, store.Query{}, s.searched, func(m *store.Message, _ uint32) {
				uids = append(uids, m.UID)
			})
		}
		if err != nil {
			return err
		}
		s.modseq = v.modseq
		c.writeResultChanges(s.tag, s.uids, uids)
		s.uids = uids
	}
	return nil
}

// writeResultChanges sends the changes from old to cur as REMOVEFROM and
// ADDTO (section 4.3), whose pairs of position and UID a client applies
// in turn: removals from the last position back, so that each position
// is still the one in old, then additions from the first position on,
// so that each lands where it is in cur. The order of the messages kept
// never changes: SORT keys do not change and SEARCH results ascend.
func (c *conn) writeResultChanges(tag string, old, cur []uint32) {
	in := func(l []uint32) map[uint32]bool {
		m := make(map[uint32]bool, len(l))
		for _, u := range l {
			m[u] = true
		}
		return m
	}
	inOld, inCur := in(old), in(cur)
	var removed, added []string
	for i := len(old) - 1; i >= 0; i-- {
		if !inCur[old[i]] {
			removed = append(removed, strconv.Itoa(i+1)+" "+strconv.FormatUint(uint64(old[i]), 10))
		}
	}
	for i, u := range cur {
		if !inOld[u] {
			added = append(added, strconv.Itoa(i+1)+" "+strconv.FormatUint(uint64(u), 10))
		}
	}
	if len(removed) == 0 && len(added) == 0 {
		return
	}
	e := c.enc()
	e.raw("* ESEARCH (TAG ").str(tag).raw(") UID")
	if len(removed) > 0 {
		e.raw(" REMOVEFROM (" + strings.Join(removed, " ") + ")")
	}
	if len(added) > 0 {
		e.raw(" ADDTO (" + strings.Join(added, " ") + ")")
	}
	c.writeBytes(e.b)
}

// partialRange reads a partial-range "n:m" of PARTIAL (section 4.4);
// 500:400 is 400:500.
func partialRange(s string) (lo, hi uint32, err error) {
	a, b, ok := strings.Cut(s, ":")
	x, err1 := strconv.ParseUint(a, 10, 32)
	y, err2 := strconv.ParseUint(b, 10, 32)
	if !ok || err1 != nil || err2 != nil || x == 0 || y == 0 {
		return 0, 0, errSyntax("bad PARTIAL range %s, expected n:m", s)
	}
	return uint32(min(x, y)), uint32(max(x, y)), nil
}

// writePartial writes "PARTIAL (lo:hi set)" of the hits at positions lo
// to hi, in their order, or NIL when there are none (section 4.4).
func writePartial(e *encoder, lo, hi uint32, hits []uint32) {
	e.raw(" PARTIAL (").num(lo).raw(":").num(hi).sp()
	if int(lo) > len(hits) {
		e.raw("NIL)")
		return
	}
	e.raw(formatSet(hits[lo-1 : min(int(hi), len(hits))])).raw(")")
}
