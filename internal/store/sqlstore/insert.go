package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"casella/internal/message"
	"casella/internal/store"
)

// maxThreadRefs bounds how many References a new message is looked up by,
// so a hostile header cannot make a delivery do unbounded work.
const maxThreadRefs = 32

// Deliver stores a delivery once per (account, key). The account is created
// when it does not exist yet, so that mail for an account the directory
// knows is never refused by the store. A mailbox name that is missing or
// invalid delivers to INBOX.
func (s *Store) Deliver(ctx context.Context, d store.Delivery) (store.Delivered, error) {
	res, err := s.DeliverBatch(ctx, []store.Delivery{d})
	if err != nil {
		return store.Delivered{}, err
	}
	return res[0], nil
}

// DeliverBatch stores the deliveries in one transaction: each account's
// in their order, the accounts in ascending order (see the package notes).
func (s *Store) DeliverBatch(ctx context.Context, ds []store.Delivery) ([]store.Delivered, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	var accts []store.Account
	of := map[store.Account][]int{} // indexes into ds, by account
	for i, d := range ds {
		if d.Key == "" {
			return nil, fmt.Errorf("deliver: empty delivery key")
		}
		accts = append(accts, d.Account)
		of[d.Account] = append(of[d.Account], i)
	}
	accts = sortedAccounts(accts)
	res := make([]store.Delivered, len(ds))
	err := s.writeEach(ctx, "deliver", accts, true, func(w *wtx, a int) error {
		for _, i := range of[accts[a]] {
			r, err := w.deliver(ds[i])
			if err != nil {
				return fmt.Errorf("delivery %s: %w", ds[i].Key, err)
			}
			res[i] = r
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// deliver stores one delivery unless its key was delivered before.
func (w *wtx) deliver(d store.Delivery) (store.Delivered, error) {
	var res store.Delivered
	err := w.tx.QueryRowContext(w.ctx, `SELECT mailbox, uid FROM deliveries WHERE key = $1 AND account = $2`, d.Key, d.Account).Scan(&res.Mailbox, &res.UID)
	if err == nil {
		res.Duplicate = true
		return res, nil
	} else if err != sql.ErrNoRows {
		return res, fmt.Errorf("look up delivery key: %w", err)
	}
	b, err := w.deliveryBox(d.Mailbox)
	if err != nil {
		return res, err
	}
	uid, err := w.insert(b, d.Message)
	if err != nil {
		return res, err
	}
	if _, err := w.exec(`INSERT INTO deliveries (account, key, mailbox, uid, created) VALUES ($1, $2, $3, $4, $5)`,
		d.Account, d.Key, b.id, uid, w.now.Unix()); err != nil {
		return res, fmt.Errorf("record delivery key: %w", err)
	}
	return store.Delivered{Mailbox: b.id, UID: uid}, nil
}

// pruneChunk is how many delivery keys one statement of PruneDeliveries
// removes, so that deliveries wait for the writer a moment, not for the
// whole prune.
const pruneChunk = 1000

// PruneDeliveries forgets the delivery keys recorded before the given
// time, a chunk per transaction, and returns how many it removed.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	st, err := s.wq.Stmt(ctx, `DELETE FROM deliveries WHERE (key, account) IN
		(SELECT key, account FROM deliveries WHERE created < $1 LIMIT $2)`)
	if err != nil {
		return 0, dbError("prune delivery keys", err)
	}
	var total int64
	for {
		res, err := st.ExecContext(ctx, before.Unix(), pruneChunk)
		if err != nil {
			return total, dbError("prune delivery keys", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, dbError("prune delivery keys", err)
		}
		total += n
		if n < pruneChunk {
			return total, nil
		}
	}
}

// deliveryBox returns the mailbox named by a delivery, or INBOX.
func (w *wtx) deliveryBox(name string) (*boxState, error) {
	if name != "" {
		if cname, err := store.CanonicalName(name); err == nil {
			b, err := w.deliveryBoxByName(cname)
			if err == nil {
				return b, nil
			} else if !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
		}
	}
	return w.deliveryBoxByName(store.Inbox)
}

// deliveryBoxByName returns the mailbox with the canonical name, from the
// mailboxes this transaction has read when it holds it. A delivery
// transaction renames and deletes nothing, so a name read earlier in it
// still holds; a batch with several messages for one account then reads
// its mailbox once, not once per message: on PostgreSQL each read is a
// round trip.
func (w *wtx) deliveryBoxByName(name string) (*boxState, error) {
	for _, b := range w.boxes {
		if b.name == name && !b.deleted {
			return b, nil
		}
	}
	return w.boxByName(name)
}

// Append adds the messages to the mailbox in one transaction; their UIDs
// are consecutive.
func (s *Store) Append(ctx context.Context, acct store.Account, mailbox int64, msgs []store.NewMessage) ([]uint32, error) {
	uids, _, err := s.append(ctx, acct, mailbox, msgs, false)
	return uids, err
}

// AppendRecent appends and claims the new messages' \Recent when the
// mailbox's recent mark is just below them.
func (s *Store) AppendRecent(ctx context.Context, acct store.Account, mailbox int64, msgs []store.NewMessage) ([]uint32, bool, error) {
	return s.append(ctx, acct, mailbox, msgs, true)
}

func (s *Store) append(ctx context.Context, acct store.Account, mailbox int64, msgs []store.NewMessage, claim bool) ([]uint32, bool, error) {
	var (
		uids    []uint32
		claimed bool
	)
	err := s.write(ctx, "append", acct, false, func(w *wtx) error {
		uids, claimed = make([]uint32, 0, len(msgs)), false
		b, err := w.box(mailbox)
		if err != nil {
			return err
		}
		flagged := false
		for i, m := range msgs {
			uid, err := w.insert(b, m)
			if err != nil {
				return fmt.Errorf("message %d: %w", i, err)
			}
			uids = append(uids, uid)
			flagged = flagged || len(m.Flags) > 0
		}
		if claim && len(uids) > 0 {
			// UIDs ascend from the mailbox's UIDNEXT: a mark just below
			// the first new one leaves nothing unclaimed below them.
			res, err := w.exec(`UPDATE mailboxes SET recent_mark = $1 WHERE id = $2 AND recent_mark = $3`, uids[len(uids)-1], mailbox, uids[0]-1)
			if err != nil {
				return fmt.Errorf("claim recent messages: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("claim recent messages: %w", err)
			}
			claimed = n == 1
		}
		if !flagged {
			return nil
		}
		return w.checkKeywords(b.id)
	})
	if err != nil {
		return nil, false, err
	}
	return uids, claimed, nil
}

// insert adds a new message to the mailbox. Its EMAILID is its row ID,
// which the database never hands out twice (SQLite's AUTOINCREMENT,
// PostgreSQL's identity column); its THREADID is that of a message of
// the account it refers to, or its own EMAILID.
func (w *wtx) insert(b *boxState, m store.NewMessage) (uint32, error) {
	if !m.Blob.Valid() {
		return 0, fmt.Errorf("invalid blob key %q", m.Blob)
	}
	if m.Size < 0 {
		return 0, fmt.Errorf("negative message size %d", m.Size)
	}
	flags, err := store.CanonicalFlags(m.Flags)
	if err != nil {
		return 0, err
	}
	bits, keywords := encodeFlags(flags)
	if keywords, err = w.addKeywords(b.id, keywords); err != nil {
		return 0, err
	}
	internal := m.Internal
	if internal.IsZero() {
		internal = w.now
	}
	var ix indexed
	var metaJSON []byte
	if m.Meta != nil {
		ix = indexColumns(m.Meta)
		if metaJSON, err = json.Marshal(m.Meta); err != nil {
			return 0, fmt.Errorf("encode message metadata: %w", err)
		}
	}
	uid, err := b.allocUID()
	if err != nil {
		return 0, err
	}
	thread, err := w.thread(m.Meta)
	if err != nil {
		return 0, err
	}
	ms := w.nextModSeq()
	// email_id 0 stands for the row's own ID, and so does thread_id 0
	// (see ownID): the new row's ID is not known before the insert.
	st, err := w.stmt(`INSERT INTO messages (account, mailbox, uid, email_id, thread_id, modseq, flags, keywords,
		internal, saved, size, blob, sent, subject, from_addr, to_addr, cc_addr, message_id)
		VALUES ($1, $2, $3, 0, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id`)
	if err != nil {
		return 0, err
	}
	var id int64
	if err := st.QueryRowContext(w.ctx, w.acct, b.id, uid, thread, ms, bits, strings.Join(keywords, " "),
		internal.UnixNano(), w.now.UnixNano(), m.Size, string(m.Blob),
		ix.sent, ix.subject, ix.from, ix.to, ix.cc, ix.messageID).Scan(&id); err != nil {
		return 0, fmt.Errorf("insert message: %w", err)
	}
	if metaJSON != nil {
		if _, err := w.exec(`INSERT INTO message_meta (message, meta) VALUES ($1, $2)`, id, metaJSON); err != nil {
			return 0, fmt.Errorf("insert message metadata: %w", err)
		}
	}
	if err := w.logChange(b, ms, uid, id, store.MessageAdded); err != nil {
		return 0, err
	}
	b.count(bits, m.Size, 1)
	return uid, nil
}

// thread returns the THREADID of a message of the account that meta refers
// to, the nearest reference first, or 0.
func (w *wtx) thread(meta *message.Meta) (int64, error) {
	if meta == nil {
		return 0, nil
	}
	refs := meta.References
	if len(refs) > maxThreadRefs {
		refs = refs[len(refs)-maxThreadRefs:]
	}
	st, err := w.stmt(`SELECT ` + ownID("thread_id") + ` FROM messages m WHERE account = $1 AND message_id = $2 AND message_id != '' LIMIT 1`)
	if err != nil {
		return 0, err
	}
	for i := len(refs) - 1; i >= 0; i-- {
		ref := trimAngle(refs[i])
		if ref == "" {
			continue
		}
		var thread int64
		err := st.QueryRowContext(w.ctx, w.acct, ref).Scan(&thread)
		if err == nil {
			return thread, nil
		} else if err != sql.ErrNoRows {
			return 0, fmt.Errorf("look up thread: %w", err)
		}
	}
	return 0, nil
}

// indexed are the columns kept beside the metadata for SORT and SEARCH.
type indexed struct {
	sent                             int64
	subject, from, to, cc, messageID string
}

func indexColumns(meta *message.Meta) indexed {
	env := &meta.Envelope
	ix := indexed{
		subject:   meta.BaseSubject,
		from:      firstAddress(env.From),
		to:        firstAddress(env.To),
		cc:        firstAddress(env.Cc),
		messageID: trimAngle(env.MessageID),
	}
	if !env.Date.IsZero() {
		ix.sent = env.Date.Unix()
	}
	return ix
}

// firstAddress is the addr-mailbox@addr-host of the first address, lower
// case, as SORT FROM/TO/CC compare it (RFC 5256 section 3). For a group
// that is its start marker, whose addr-mailbox is the group's name and
// whose addr-host is NIL (RFC 3501 section 7.4.2).
func firstAddress(l []message.Address) string {
	if len(l) == 0 {
		return ""
	}
	if l[0].Group == message.GroupStart {
		return strings.ToLower(l[0].Name + "@")
	}
	return strings.ToLower(l[0].Local + "@" + l[0].Host)
}

func trimAngle(id string) string {
	id = strings.TrimSpace(id)
	id = strings.TrimPrefix(id, "<")
	return strings.TrimSuffix(id, ">")
}
