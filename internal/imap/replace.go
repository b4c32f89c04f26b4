package imap

import (
	"fmt"

	"casella/internal/store"
)

// cmdReplace serves REPLACE and UID REPLACE (RFC 8508): an APPEND of the
// new message to a mailbox, then an expunge of the one it replaces from
// the selected mailbox, which the client need not have flagged \Deleted.
// The expunge runs only once the append is stored, so a failure never
// loses the message (section 3.4); a failure of the expunge leaves both.
// APPENDUID comes in an untagged OK before the EXPUNGE (section 3.3).
func (c *conn) cmdReplace(cmd *command) error {
	n, name, m, err := c.parseReplace()
	if err != nil {
		return err
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	mb, err := c.targetMailbox(ctx, "replace into", name)
	if err != nil {
		return err
	}
	v := c.sel
	var uid uint32
	if cmd.uid {
		if v.seq(n) == 0 {
			return errNo("NONEXISTENT", "No message has UID %d", n)
		}
		uid = n
	} else {
		if int(n) > len(v.uids) {
			return errBad("", "Message sequence number %d does not exist, the mailbox has %d messages", n, len(v.uids))
		}
		uid = v.uids[n-1]
	}
	if v.readOnly {
		return errNo("", "The mailbox is open read-only (EXAMINE), messages cannot be replaced")
	}

	uids, err := c.appendTo(ctx, &mb, []appendMessage{m})
	if err != nil {
		return err
	}
	c.writeLine("* OK [APPENDUID %d %d] Replacement message stored", mb.UIDValidity, uids[0])
	one := []store.UIDRange{{First: uid, Last: uid}}
	res, err := c.srv.Store.UpdateFlags(ctx, c.acct.ID, store.FlagUpdate{Mailbox: v.mb.ID, UIDs: one, Op: store.FlagsAdd, Flags: []string{store.FlagDeleted}})
	if err != nil {
		return fmt.Errorf("replace: flag the old message deleted: %w", err)
	}
	for _, m := range res.Changed {
		v.own[m.UID] = m.ModSeq
	}
	gone, err := c.srv.Store.Expunge(ctx, c.acct.ID, v.mb.ID, one)
	if err != nil {
		return fmt.Errorf("replace: expunge the old message: %w", err)
	}
	c.announceExpunged(gone)
	return nil
}

// parseReplace reads REPLACE's arguments: the message number, the
// mailbox and the message with its optional flags and date (RFC 8508
// section 6, the append-message of APPEND).
func (c *conn) parseReplace() (n uint32, mailbox string, m appendMessage, err error) {
	if err = c.p.sp(); err != nil {
		return
	}
	if n, err = c.p.nzNumber(); err != nil {
		return
	}
	if mailbox, err = c.mailboxArg(); err != nil {
		return
	}
	if err = c.p.sp(); err != nil {
		return
	}
	var ch byte
	if ch, err = c.p.peek(); err != nil {
		return
	} else if ch == '(' {
		if m.flags, err = c.p.flagList(); err != nil {
			return
		}
		if err = c.p.sp(); err != nil {
			return
		}
	}
	if ch, err = c.p.peek(); err != nil {
		return
	} else if ch == '"' {
		if m.date, err = c.p.dateTime(); err != nil {
			return
		}
		if err = c.p.sp(); err != nil {
			return
		}
	}
	if m.data, err = c.appendData(); err != nil {
		return
	}
	if err = c.p.end(); err != nil {
		return
	}
	if len(m.data) == 0 {
		err = errNo("", "An empty message cannot be appended")
	}
	return
}
