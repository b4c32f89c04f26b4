package imap

import (
	"fmt"
	"strings"
)

// cmdSelect serves SELECT and EXAMINE (RFC 9051 sections 6.3.2, 6.3.3),
// with the CONDSTORE parameter (RFC 7162 section 3.1.8).
func (c *conn) cmdSelect(cmd *command) error {
	name, err := c.mailboxArg()
	if err != nil {
		return err
	}
	condstore := false
	if ok, err := c.p.take(' '); err != nil {
		return err
	} else if ok {
		if err := c.p.expect('(', "select parameters"); err != nil {
			return err
		}
		params, err := c.atomList()
		if err != nil {
			return err
		}
		for _, p := range params {
			if p != "CONDSTORE" {
				return errSyntax("unknown select parameter %s", p)
			}
			condstore = true
		}
	}
	if err := c.p.end(); err != nil {
		return err
	}
	// A failed SELECT leaves no mailbox selected (section 6.3.2).
	c.unselect()
	ctx, cancel := c.commandContext()
	defer cancel()
	v, err := c.selectMailbox(ctx, name, cmd.name == "EXAMINE")
	if err != nil {
		return err
	}
	c.sel = v
	c.state = stateSelected
	c.condstore = c.condstore || condstore
	c.writeLine(`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft)`)
	if v.readOnly {
		c.writeLine(`* OK [PERMANENTFLAGS ()] Read-only mailbox`)
	} else {
		c.writeLine(`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Flags permitted`)
	}
	c.writeLine("* %d EXISTS", len(v.uids))
	c.writeLine("* 0 RECENT")
	c.writeLine("* OK [UIDVALIDITY %d] UIDs valid", v.mb.UIDValidity)
	c.writeLine("* OK [UIDNEXT %d] Predicted next UID", v.mb.UIDNext)
	// Sent on every SELECT by a server offering CONDSTORE (RFC 7162
	// section 3.1.2.1).
	c.writeLine("* OK [HIGHESTMODSEQ %d] Highest", v.mb.HighestModSeq)
	if v.readOnly {
		cmd.code = "READ-ONLY"
	} else {
		cmd.code = "READ-WRITE"
	}
	cmd.text = strings.ToUpper(cmd.name) + " completed"
	return nil
}

// cmdClose serves CLOSE (section 6.4.2), which silently expunges unless
// the mailbox is read-only, and UNSELECT (RFC 3691), which does not.
func (c *conn) cmdClose(cmd *command) error {
	if err := c.p.end(); err != nil {
		return err
	}
	v := c.sel
	c.unselect()
	if cmd.name == "UNSELECT" || v.readOnly {
		return nil
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	if _, err := c.srv.Store.Expunge(ctx, c.acct.ID, v.mb.ID, nil); err != nil {
		return fmt.Errorf("expunge on close: %w", err)
	}
	return nil
}
