package imap

import (
	"context"
	"errors"
	"fmt"

	"casella/internal/store"
)

// cmdCopy serves COPY and MOVE (RFC 9051 sections 6.4.7, 6.4.8; RFC 6851)
// and their UID forms, answering with COPYUID (RFC 4315 section 3).
func (c *conn) cmdCopy(cmd *command) error {
	if err := c.p.sp(); err != nil {
		return err
	}
	set, err := c.p.seqSet()
	if err != nil {
		return err
	}
	dest, err := c.mailboxArg()
	if err != nil {
		return err
	}
	if err := c.p.end(); err != nil {
		return err
	}
	move := cmd.name == "MOVE" || cmd.name == "UID MOVE"
	v := c.sel
	if move && v.readOnly {
		return errNo("", "The mailbox is open read-only (EXAMINE), messages cannot be moved out")
	}
	uids, err := v.resolve(set, cmd.uid)
	if err != nil {
		return err
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	to, err := c.targetMailbox(ctx, "copy to", dest)
	if err != nil {
		return err
	}
	if len(uids) == 0 {
		return nil
	}
	if !move {
		// A move stays within the account; a copy adds to its usage.
		msgs, err := c.loadMessages(ctx, uids, store.Query{})
		if err != nil {
			return err
		}
		var size int64
		for _, m := range msgs {
			size += m.Size
		}
		if err := c.checkQuota(ctx, size); err != nil {
			return err
		}
	}
	var pairs []store.UIDPair
	if move {
		pairs, err = c.srv.Store.Move(ctx, c.acct.ID, v.mb.ID, v.ranges(uids), to.ID)
	} else {
		pairs, err = c.srv.Store.Copy(ctx, c.acct.ID, v.mb.ID, v.ranges(uids), to.ID)
	}
	if err != nil {
		return fmt.Errorf("%s to %q: %w", cmd.name, dest, err)
	}
	if len(pairs) == 0 {
		return nil
	}
	from, toUIDs := make([]uint32, len(pairs)), make([]uint32, len(pairs))
	for i, p := range pairs {
		from[i], toUIDs[i] = p.From, p.To
	}
	code := fmt.Sprintf("COPYUID %d %s %s", to.UIDValidity, formatSet(from), formatSet(toUIDs))
	if move {
		// With MOVE, COPYUID comes in an untagged OK before the EXPUNGEs
		// (RFC 6851 section 4.3).
		c.writeLine("* OK [%s] Moved", code)
		c.announceExpunged(from)
		return nil
	}
	cmd.code = code
	return nil
}

// targetMailbox looks up the mailbox that APPEND, COPY, MOVE or REPLACE
// adds to. A missing one is answered with TRYCREATE, so that the client
// may create it and retry (RFC 9051 section 7.1).
func (c *conn) targetMailbox(ctx context.Context, what, name string) (store.Mailbox, error) {
	mb, err := c.srv.Store.Mailbox(ctx, c.acct.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return mb, errNo("TRYCREATE", "Mailbox %s does not exist", name)
	} else if err != nil {
		return mb, fmt.Errorf("%s %q: %w", what, name, err)
	}
	return mb, nil
}
