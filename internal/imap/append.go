package imap

import (
	"context"
	"fmt"
	"strings"
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
	mb, err := c.targetMailbox(ctx, "append to", name)
	if err != nil {
		return err
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
		if m.data, err = c.appendData(); err != nil {
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
	uids, err := c.appendTo(ctx, &mb, msgs)
	if err != nil {
		return err
	}
	cmd.code = fmt.Sprintf("APPENDUID %d %s", mb.UIDValidity, formatSet(uids))
	return nil
}

// appendTo stores messages in a mailbox, within the quota, in one
// transaction, and returns their UIDs.
func (c *conn) appendTo(ctx context.Context, mb *store.Mailbox, msgs []appendMessage) ([]uint32, error) {
	var size int64
	for _, m := range msgs {
		size += int64(len(m.data))
	}
	if err := c.checkQuota(ctx, size); err != nil {
		return nil, err
	}
	news := make([]store.NewMessage, len(msgs))
	for i, m := range msgs {
		key, err := c.blobs.Put(ctx, m.data)
		if err != nil {
			return nil, fmt.Errorf("storing appended message: %w", err)
		}
		news[i] = store.NewMessage{Blob: key, Size: int64(len(m.data)), Internal: m.date, Flags: m.flags, Meta: message.Parse(m.data)}
	}
	v := c.sel
	if v == nil || v.mb.ID != mb.ID || v.readOnly || c.rev2 {
		uids, err := c.srv.Store.Append(ctx, c.acct.ID, mb.ID, news)
		if err != nil {
			return nil, fmt.Errorf("append to %q: %w", mb.Name, err)
		}
		return uids, nil
	}
	// To the selected mailbox: the new messages are recent in this
	// session (RFC 3501 section 2.3.2), claimed by the append itself
	// when it can, which saves the sync after the command a write of
	// its own (recent.go).
	uids, claimed, err := c.srv.Store.AppendRecent(ctx, c.acct.ID, mb.ID, news)
	if err != nil {
		return nil, fmt.Errorf("append to %q: %w", mb.Name, err)
	}
	if claimed {
		for _, uid := range uids {
			v.recent[uid] = true
		}
	}
	return uids, nil
}

// appendData reads the message of an APPEND: a literal, a literal8
// (RFC 3516 section 4.4), "UTF8 (" literal8 ")" once the client enabled
// UTF8=ACCEPT (RFC 6855 section 4), for a message with UTF-8 headers, or
// CATENATE (RFC 4469, catenate.go).
func (c *conn) appendData() ([]byte, error) {
	ch, err := c.p.peek()
	if err != nil {
		return nil, err
	}
	if ch != 'U' && ch != 'u' && ch != 'C' && ch != 'c' {
		return c.literal8()
	}
	word, err := c.p.atom()
	if err != nil {
		return nil, err
	}
	switch strings.ToUpper(word) {
	case "CATENATE":
		return c.catenateData()
	case "UTF8":
	default:
		return nil, errSyntax("expected a literal, UTF8 or CATENATE, got %s", word)
	}
	if err := c.p.sp(); err != nil {
		return nil, err
	}
	return c.utf8Literal()
}

// utf8Literal reads "(" literal8 ")" after UTF8 (RFC 6855 section 4).
func (c *conn) utf8Literal() ([]byte, error) {
	if !c.utf8 {
		return nil, errBad("", "APPEND UTF8 needs ENABLE UTF8=ACCEPT first")
	}
	if err := c.p.expect('(', "( before UTF8 message"); err != nil {
		return nil, err
	}
	if err := c.p.expect('~', "literal8"); err != nil {
		return nil, err
	}
	data, err := c.p.literal()
	if err != nil {
		return nil, err
	}
	return data, c.p.expect(')', ") after UTF8 message")
}

// literal8 reads a literal, or a literal8 ("~{n}", RFC 3516 section 4.2),
// which may carry NUL bytes.
func (c *conn) literal8() ([]byte, error) {
	if _, err := c.p.take('~'); err != nil {
		return nil, err
	}
	return c.p.literal()
}
