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
	c.expunged(gone)
	return nil
}

// expunged removes messages this session expunged (or moved away) from
// the view and announces them, highest sequence number first.
func (c *conn) expunged(uids []uint32) {
	v := c.sel
	slices.Sort(uids)
	for i := len(uids) - 1; i >= 0; i-- {
		seq := v.seq(uids[i])
		if seq == 0 {
			continue
		}
		c.writeLine("* %d EXPUNGE", seq)
		v.uids = slices.Delete(v.uids, int(seq-1), int(seq))
		v.exists--
		delete(v.expunged, uids[i])
		delete(v.changed, uids[i])
	}
}
