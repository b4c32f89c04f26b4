package imap

import (
	"errors"
	"fmt"
	"time"

	"casella/internal/message"
	"casella/internal/store"
)

// appendMessage is one message of an APPEND.
type appendMessage struct {
	flags []string
	date  time.Time
	data  []byte
}

// cmdAppend serves APPEND (RFC 9051 section 6.3.12) with MULTIAPPEND
// (RFC 3502) and answers APPENDUID (RFC 4315 section 3). The messages are
// stored in one transaction: all or none.
func (c *conn) cmdAppend(cmd *command) error {
	name, err := c.mailboxArg()
	if err != nil {
		return err
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	// The mailbox is checked before any literal is accepted, so a client
	// appending to a missing mailbox does not send the message in vain.
	mb, err := c.srv.Store.Mailbox(ctx, c.acct.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return errNo("TRYCREATE", "Mailbox %s does not exist", name)
	} else if err != nil {
		return fmt.Errorf("append to %q: %w", name, err)
	}

	// All messages together stay within the literal limit.
	limit := c.p.maxLiteral
	defer func() { c.p.maxLiteral = limit }()
	var msgs []appendMessage
	for {
		if err := c.p.sp(); err != nil {
			return err
		}
		var m appendMessage
		if ch, err := c.p.peek(); err != nil {
			return err
		} else if ch == '(' {
			if m.flags, err = c.p.flagList(); err != nil {
				return err
			}
			if err := c.p.sp(); err != nil {
				return err
			}
		}
		if ch, err := c.p.peek(); err != nil {
			return err
		} else if ch == '"' {
			if m.date, err = c.p.dateTime(); err != nil {
				return err
			}
			if err := c.p.sp(); err != nil {
				return err
			}
		}
		if m.data, err = c.p.literal(); err != nil {
			return err
		}
		if len(m.data) == 0 {
			return errNo("", "An empty message cannot be appended")
		}
		c.p.maxLiteral -= int64(len(m.data))
		msgs = append(msgs, m)
		if end, err := c.p.atEnd(); err != nil {
			return err
		} else if end {
			break
		}
	}
	if err := c.p.end(); err != nil {
		return err
	}

	// The literals may have taken a while to arrive: a fresh deadline.
	ctx, cancel = c.commandContext()
	defer cancel()
	news := make([]store.NewMessage, len(msgs))
	for i, m := range msgs {
		key, err := c.srv.Blobs.Put(ctx, m.data)
		if err != nil {
			return fmt.Errorf("storing appended message: %w", err)
		}
		news[i] = store.NewMessage{Blob: key, Size: int64(len(m.data)), Internal: m.date, Flags: m.flags, Meta: message.Parse(m.data)}
	}
	uids, err := c.srv.Store.Append(ctx, c.acct.ID, mb.ID, news)
	if err != nil {
		return fmt.Errorf("append to %q: %w", name, err)
	}
	cmd.code = fmt.Sprintf("APPENDUID %d %s", mb.UIDValidity, formatSet(uids))
	return nil
}
