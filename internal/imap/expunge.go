package imap

import (
	"fmt"
	"slices"
)

// cmdExpunge serves EXPUNGE (RFC 9051 section 6.4.3) and UID EXPUNGE
// (RFC 4315 section 2.1), which removes only the named messages.
func (c *conn) cmdExpunge(cmd *command) error {
	var set seqSet
	if cmd.uid {
		if err := c.p.sp(); err != nil {
			return err
		}
		var err error
		if set, err = c.p.seqSet(); err != nil {
			return err
		}
	}
	if err := c.p.end(); err != nil {
		return err
	}
	v := c.sel
	if v.readOnly {
		return errNo("", "The mailbox is open read-only (EXAMINE), nothing can be expunged")
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	// Only messages the client knows are expunged: one delivered since
	// the last update must not vanish unannounced.
	uids := v.uids
	if cmd.uid {
		var err error
		if uids, err = v.resolve(set, true); err != nil {
			return err
		}
	}
	if len(uids) == 0 {
		return nil
	}
	gone, err := c.srv.Store.Expunge(ctx, c.acct.ID, v.mb.ID, v.ranges(uids))
	if err != nil {
		return fmt.Errorf("expunge: %w", err)
	}
	c.announceExpunged(gone)
	if c.qresync && len(gone) > 0 {
		// The mailbox's new HIGHESTMODSEQ, which VANISHED does not
		// carry, so the client can resynchronise from it (RFC 7162
		// section 3.2.10).
		mb, err := c.srv.Store.Mailbox(ctx, c.acct.ID, v.mb.Name)
		if err == nil && mb.ID == v.mb.ID {
			cmd.code = fmt.Sprintf("HIGHESTMODSEQ %d", mb.HighestModSeq)
		}
	}
	return nil
}

// announceExpunged removes expunged messages from the view and tells the
// client: with EXPUNGE, highest sequence number first, so that each number
// written is still valid when the client reads it (RFC 9051 section
// 7.4.1), or with one VANISHED once QRESYNC is enabled (RFC 7162 section
// 3.2.10). UIDs the view does not hold are skipped, and so are messages
// the client was never told of.
func (c *conn) announceExpunged(uids []uint32) {
	v := c.sel
	slices.Sort(uids)
	uids = slices.Compact(uids)
	// The messages' places in the view, found before any leaves it: going
	// down from the highest, each sequence number is what the client
	// knows when its EXPUNGE arrives. The view is compacted once after,
	// so an expunge of many messages costs one pass over it, not one each.
	at := make([]int, 0, len(uids))
	for _, uid := range uids {
		if i, ok := slices.BinarySearch(v.uids, uid); ok {
			at = append(at, i)
		}
	}
	var gone []uint32
	for k := len(at) - 1; k >= 0; k-- {
		seq, uid := uint32(at[k]+1), v.uids[at[k]]
		delete(v.expunged, uid)
		delete(v.changed, uid)
		delete(v.recent, uid)
		if int(seq) > v.exists {
			// Added and expunged by others since the last EXISTS: the
			// client never knew the message, and its sequence number
			// lies past the client's view.
			continue
		}
		if !c.qresync && !c.uidonly {
			c.writeLine("* %d EXPUNGE", seq)
		}
		v.exists--
		gone = append(gone, uid)
	}
	v.uids = removeAt(v.uids, at)
	if (c.qresync || c.uidonly) && len(gone) > 0 {
		slices.Reverse(gone)
		c.writeLine("* VANISHED %s", formatSet(gone))
	}
}

// removeAt removes the elements at the ascending indexes at from l, in
// place, in one pass.
func removeAt(l []uint32, at []int) []uint32 {
	if len(at) == 0 {
		return l
	}
	w := at[0]
	for k, i := range at {
		end := len(l)
		if k+1 < len(at) {
			end = at[k+1]
		}
		w += copy(l[w:], l[i+1:end])
	}
	clear(l[w:])
	return l[:w]
}
