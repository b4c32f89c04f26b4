package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"casella/internal/blob"
	"casella/internal/message"
	"casella/internal/store"
)

// batchSize is how many messages Messages reads per query.
const batchSize = 1000

// ownID is the SQL for the value of column col of the messages row m,
// where 0 stands for the row's own ID. A new message is stored with
// email_id 0, and thread_id 0 unless it joins another's thread: one
// statement, where writing its own ID in would take a second after the
// insert told it. Databases written before this convention hold the IDs
// themselves, which read the same.
func ownID(col string) string {
	return `CASE m.` + col + ` WHEN 0 THEN m.id ELSE m.` + col + ` END`
}

var messageColumns = `m.id, ` + ownID("email_id") + `, ` + ownID("thread_id") + `, m.mailbox, m.uid, m.modseq, m.flags, m.keywords, m.internal, m.saved, m.size, m.blob`

// flagColumns are what a Query with FlagsOnly reads.
const flagColumns = `m.uid, m.modseq, m.flags, m.keywords`

// row is a message as stored, with its flags still encoded.
type row struct {
	store.Message
	bits     int
	keywords string
}

func scanRow(sc interface{ Scan(...any) error }, extra ...any) (row, error) {
	var r row
	var internal, saved int64
	var key string
	dest := []any{&r.ID, &r.EmailID, &r.ThreadID, &r.Mailbox, &r.UID, &r.ModSeq, &r.bits, &r.keywords, &internal, &saved, &r.Size, &key}
	if err := sc.Scan(append(dest, extra...)...); err != nil {
		return r, err
	}
	r.Internal = time.Unix(0, internal).UTC()
	r.Saved = time.Unix(0, saved).UTC()
	r.Blob = blob.Key(key)
	r.Flags = decodeFlags(r.bits, r.keywords)
	return r, nil
}

// checkMailbox returns store.ErrNotFound unless the mailbox belongs to acct.
func (s *Store) checkMailbox(ctx context.Context, acct store.Account, mailbox int64) error {
	st, err := s.rq.Stmt(ctx, `SELECT 1 FROM mailboxes WHERE id = $1 AND account = $2`)
	if err != nil {
		return err
	}
	var one int
	err = st.QueryRowContext(ctx, mailbox, acct).Scan(&one)
	if err == sql.ErrNoRows {
		return fmt.Errorf("mailbox %d: %w", mailbox, store.ErrNotFound)
	}
	return err
}

// Messages calls fn for each selected message in UID order. Messages are
// read in batches through the (mailbox, uid) index and fn runs with no
// transaction open; a message changed by another writer while the scan runs
// is seen in the state of the batch that read it. Without q.WithMeta the
// metadata table is not read at all; sort keys come from the indexed
// columns of the messages table.
//
// The rows are read only where they belong to acct; a read that finds
// none asks whether the mailbox is acct's, so that a FETCH of a few
// messages, most of what sessions do, is one query.
func (s *Store) Messages(ctx context.Context, acct store.Account, q store.Query, fn func(*store.Message) error) error {
	ranges := store.NormalizeUIDs(q.UIDs)
	if ranges == nil {
		ranges = []store.UIDRange{{First: 1, Last: math.MaxUint32}}
	}
	cols, from := messageColumns, `messages m`
	if q.FlagsOnly {
		cols, q.WithSortKeys, q.WithMeta = flagColumns, false, false
	}
	if q.WithSortKeys {
		cols += `, m.sent, m.subject, m.from_addr, m.to_addr, m.cc_addr`
	}
	if q.WithMeta {
		cols += `, mm.meta`
		from += ` LEFT JOIN message_meta mm ON mm.message = m.id`
	}
	query := `SELECT ` + cols + ` FROM ` + from + ` WHERE m.mailbox = $1 AND m.account = $5 AND m.uid >= $2 AND m.uid <= $3 ORDER BY m.uid LIMIT $4`
	// A batch holds no more than the ranges span: most reads are of a
	// few messages, and a batch of a thousand costs a few hundred
	// kilobytes to allocate and clear.
	var span uint64
	for _, r := range ranges {
		span += uint64(r.Last-r.First) + 1
	}
	batch := make([]store.Message, 0, min(span, batchSize))
	found := false
	for _, r := range ranges {
		first := r.First
		for {
			var err error
			batch, err = s.readBatch(ctx, query, acct, q, first, r.Last, batch[:0])
			if err != nil {
				return dbError("list messages", err)
			}
			found = found || len(batch) > 0
			for i := range batch {
				if err := fn(&batch[i]); err != nil {
					return err
				}
			}
			if len(batch) < batchSize || batch[len(batch)-1].UID >= r.Last {
				break
			}
			first = batch[len(batch)-1].UID + 1
		}
	}
	if !found {
		return dbError("list messages", s.checkMailbox(ctx, acct, q.Mailbox))
	}
	return nil
}

// UIDs reads the UIDs from the (mailbox, uid) index alone.
func (s *Store) UIDs(ctx context.Context, acct store.Account, mailbox int64) ([]uint32, error) {
	if err := s.checkMailbox(ctx, acct, mailbox); err != nil {
		return nil, dbError("list UIDs", err)
	}
	st, err := s.rq.Stmt(ctx, `SELECT uid FROM messages WHERE mailbox = $1 ORDER BY uid`)
	if err != nil {
		return nil, dbError("list UIDs", err)
	}
	rows, err := st.QueryContext(ctx, mailbox)
	if err != nil {
		return nil, dbError("list UIDs", err)
	}
	defer rows.Close()
	var uids []uint32
	for rows.Next() {
		var uid uint32
		if err := rows.Scan(&uid); err != nil {
			return nil, dbError("list UIDs", err)
		}
		uids = append(uids, uid)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("list UIDs", err)
	}
	return uids, nil
}

// readBatch reads up to batchSize messages with UIDs in [first, last].
func (s *Store) readBatch(ctx context.Context, query string, acct store.Account, q store.Query, first, last uint32, batch []store.Message) ([]store.Message, error) {
	st, err := s.rq.Stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, q.Mailbox, first, last, batchSize, acct)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		metaJSON sql.RawBytes // decoded at once, or not at all (decodeMeta)
		sent     int64
		keys     store.SortKeys
		extra    []any
	)
	if q.WithSortKeys {
		extra = append(extra, &sent, &keys.Subject, &keys.From, &keys.To, &keys.Cc)
	}
	if q.WithMeta {
		extra = append(extra, &metaJSON)
	}
	for rows.Next() {
		if q.FlagsOnly {
			var r row
			if err := rows.Scan(&r.UID, &r.ModSeq, &r.bits, &r.keywords); err != nil {
				return nil, err
			}
			r.Mailbox, r.Flags = q.Mailbox, decodeFlags(r.bits, r.keywords)
			batch = append(batch, r.Message)
			continue
		}
		metaJSON = nil
		r, err := scanRow(rows, extra...)
		if err != nil {
			return nil, err
		}
		if q.WithSortKeys {
			k := keys
			if sent != 0 {
				k.Sent = time.Unix(sent, 0).UTC()
			}
			r.SortKeys = &k
		}
		if len(metaJSON) > 0 {
			if r.Meta, err = s.decodeMeta(r.ID, metaJSON); err != nil {
				return nil, fmt.Errorf("message %d uid %d: %w", r.ID, r.UID, err)
			}
		}
		batch = append(batch, r.Message)
	}
	return batch, rows.Err()
}

// selectRows reads the messages of a mailbox in the ranges, within a write
// transaction, before the caller changes them. extra is an SQL condition
// added to the selection.
func (w *wtx) selectRows(mailbox int64, uids []store.UIDRange, extra string) ([]row, error) {
	ranges := store.NormalizeUIDs(uids)
	if ranges == nil {
		ranges = []store.UIDRange{{First: 1, Last: math.MaxUint32}}
	}
	st, err := w.stmt(`SELECT ` + messageColumns + ` FROM messages m WHERE m.mailbox = $1 AND m.uid >= $2 AND m.uid <= $3` + extra + ` ORDER BY m.uid`)
	if err != nil {
		return nil, err
	}
	var l []row
	for _, r := range ranges {
		rows, err := st.QueryContext(w.ctx, mailbox, r.First, r.Last)
		if err != nil {
			return nil, fmt.Errorf("select messages: %w", err)
		}
		for rows.Next() {
			m, err := scanRow(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("select messages: %w", err)
			}
			l = append(l, m)
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("select messages: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("select messages: %w", err)
		}
	}
	return l, nil
}

// decodeMeta returns the metadata of message id from its JSON, decoding it
// only when the store's MetaCache does not have it: decoding was the
// largest part of a FETCH of envelopes.
func (s *Store) decodeMeta(id int64, data []byte) (*message.Meta, error) {
	if m, ok := s.metas.Get(id); ok {
		return m, nil
	}
	m := new(message.Meta)
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("decode metadata: %w", err)
	}
	s.metas.Put(id, m)
	return m, nil
}
