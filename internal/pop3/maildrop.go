package pop3

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"casella/internal/blob"
	"casella/internal/store"
)

// maildrop is the session's snapshot of INBOX (RFC 1939 section 6):
// message n of the session is msgs[n-1] until the session ends.
type maildrop struct {
	mailbox     int64
	uidValidity uint32
	msgs        []dropMessage
}

// dropMessage is one message of the snapshot.
type dropMessage struct {
	uid     uint32
	size    int64
	blob    blob.Key
	deleted bool // marked by DELE
}

// loadMaildrop takes the snapshot of the account's INBOX, creating the
// account's mailboxes if it never received mail.
func loadMaildrop(ctx context.Context, st store.Store, acct store.Account) (*maildrop, error) {
	mb, err := st.Mailbox(ctx, acct, store.Inbox)
	if errors.Is(err, store.ErrNotFound) {
		if err := st.EnsureAccount(ctx, acct); err != nil {
			return nil, fmt.Errorf("create account %d: %w", acct, err)
		}
		mb, err = st.Mailbox(ctx, acct, store.Inbox)
	}
	if err != nil {
		return nil, fmt.Errorf("open INBOX of account %d: %w", acct, err)
	}
	d := &maildrop{mailbox: mb.ID, uidValidity: mb.UIDValidity}
	err = st.Messages(ctx, acct, store.Query{Mailbox: mb.ID}, func(m *store.Message) error {
		d.msgs = append(d.msgs, dropMessage{uid: m.UID, size: m.Size, blob: m.Blob})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list INBOX of account %d: %w", acct, err)
	}
	return d, nil
}

// stat returns the number and total size of the messages not marked
// deleted.
func (d *maildrop) stat() (n int, size int64) {
	for _, m := range d.msgs {
		if !m.deleted {
			n++
			size += m.size
		}
	}
	return n, size
}

// message returns the message with the session number given in arg.
func (d *maildrop) message(arg string) (*dropMessage, error) {
	n, err := strconv.Atoi(arg)
	if err != nil {
		return nil, fmt.Errorf("invalid message number %s", quoteArg(arg))
	}
	if n < 1 || n > len(d.msgs) {
		return nil, fmt.Errorf("no such message, only %d in maildrop", len(d.msgs))
	}
	m := &d.msgs[n-1]
	if m.deleted {
		return nil, fmt.Errorf("message %d already deleted", n)
	}
	return m, nil
}

// uidl returns the unique-id listing of a message (RFC 1939 section 7):
// unique within the mailbox over time, because UIDs are never reused
// within a UIDVALIDITY.
func (d *maildrop) uidl(m *dropMessage) string {
	return fmt.Sprintf("%d.%d", d.uidValidity, m.uid)
}

// deletedUIDs returns the UIDs marked deleted, as ranges.
func (d *maildrop) deletedUIDs() []store.UIDRange {
	var uids []uint32
	for _, m := range d.msgs {
		if m.deleted {
			uids = append(uids, m.uid)
		}
	}
	return store.UIDRanges(uids)
}
