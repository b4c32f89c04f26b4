package imap

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"casella/internal/store"
)

// cmdSelect serves SELECT and EXAMINE (RFC 9051 sections 6.3.2, 6.3.3),
// with the CONDSTORE parameter (RFC 7162 section 3.1.8) and the QRESYNC
// parameter (section 3.2.5).
func (c *conn) cmdSelect(cmd *command) error {
	name, err := c.mailboxArg()
	if err != nil {
		return err
	}
	condstore, qr, err := c.selectParams()
	if err != nil {
		return err
	}
	if c.sel != nil && (c.qresync || c.rev2) {
		// The previous mailbox is closed even if this SELECT fails
		// (RFC 7162 section 3.2.11, RFC 9051 section 6.3.2).
		c.writeLine("* OK [CLOSED] Previous mailbox closed")
	}
	// A failed SELECT leaves no mailbox selected (section 6.3.2).
	c.unselect()
	ctx, cancel := c.commandContext()
	defer cancel()
	var since uint64
	if qr != nil {
		since = qr.modseq
	}
	v, changed, err := c.selectMailbox(ctx, name, cmd.name == "EXAMINE", since)
	if err != nil {
		return err
	}
	c.sel = v
	c.state = stateSelected
	c.condstore = c.condstore || condstore
	c.writeFlagsResponses()
	c.writeLine("* %d EXISTS", len(v.uids))
	if c.rev2 {
		// Tells the client the mailbox's canonical name (section 6.3.2).
		e := c.enc()
		c.writeBytes(e.raw(`* LIST () "` + store.Separator + `" `).mailbox(v.mb.Name).b)
	} else {
		c.writeLine("* %d RECENT", len(v.recent))
		if seq, err := c.firstUnseen(ctx, v); err != nil {
			return err
		} else if seq != 0 && !c.uidonly {
			c.writeLine("* OK [UNSEEN %d] First unseen", seq) // RFC 3501 section 6.3.1
		}
	}
	c.writeLine("* OK [UIDVALIDITY %d] UIDs valid", v.mb.UIDValidity)
	c.writeLine("* OK [UIDNEXT %d] Predicted next UID", v.mb.UIDNext)
	// Sent on every SELECT by a server offering CONDSTORE (RFC 7162
	// section 3.1.2.1). Every mailbox has MODSEQs here, so NOMODSEQ
	// (section 3.1.2.2) is never sent.
	c.writeLine("* OK [HIGHESTMODSEQ %d] Highest", v.mb.HighestModSeq)
	c.writeLine("* OK [MAILBOXID (%s)] Mailbox ID", mailboxID(&v.mb)) // RFC 8474 section 4.3
	if qr != nil && qr.uidValidity == v.mb.UIDValidity {
		// A UIDVALIDITY mismatch makes the client start over; it gets
		// nothing more (RFC 7162 section 3.2.5).
		if err := c.resync(ctx, qr, changed); err != nil {
			return err
		}
	}
	if v.readOnly {
		cmd.code = "READ-ONLY"
	} else {
		cmd.code = "READ-WRITE"
	}
	cmd.text = strings.ToUpper(cmd.name) + " completed"
	return nil
}

// selectParams reads SELECT's optional parameters, to the end of the
// line: CONDSTORE and QRESYNC (RFC 4466 section 2.1 syntax).
func (c *conn) selectParams() (condstore bool, qr *qresyncParam, err error) {
	if ok, err := c.p.take(' '); err != nil {
		return false, nil, err
	} else if ok {
		if err := c.p.expect('(', "select parameters"); err != nil {
			return false, nil, err
		}
		for {
			if ok, err := c.p.take(')'); err != nil {
				return false, nil, err
			} else if ok {
				break
			}
			if condstore || qr != nil {
				if err := c.p.sp(); err != nil {
					return false, nil, err
				}
			}
			p, err := c.p.atom()
			if err != nil {
				return false, nil, err
			}
			switch strings.ToUpper(p) {
			case "CONDSTORE":
				condstore = true
			case "QRESYNC":
				if qr, err = c.parseQresync(); err != nil {
					return false, nil, err
				}
			default:
				return false, nil, errSyntax("unknown select parameter %s", p)
			}
		}
	}
	return condstore, qr, c.p.end()
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

// errFound ends a scan of messages early.
var errFound = errors.New("found")

// firstUnseen returns the sequence number of the first message without
// \Seen, or 0 when every message has it. IMAP4rev2 dropped the UNSEEN
// response code (RFC 9051 appendix E); rev1 clients rely on it.
func (c *conn) firstUnseen(ctx context.Context, v *view) (uint32, error) {
	if v.mb.Unseen == 0 || len(v.uids) == 0 {
		return 0, nil
	}
	var seq uint32
	q := store.Query{Mailbox: v.mb.ID, UIDs: []store.UIDRange{{First: v.uids[0], Last: v.uids[len(v.uids)-1]}}, FlagsOnly: true}
	err := c.srv.Store.Messages(ctx, c.acct.ID, q, func(m *store.Message) error {
		if store.HasFlag(m.Flags, store.FlagSeen) {
			return nil
		}
		if seq = v.seq(m.UID); seq != 0 {
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return 0, fmt.Errorf("finding the first unseen message: %w", err)
	}
	return seq, nil
}
