package sqlstore

import (
	"context"

	"casella/internal/blob"
	"casella/internal/store"
)

// BlobReferenced reports whether a message refers to the blob.
func (s *Store) BlobReferenced(ctx context.Context, key blob.Key) (bool, error) {
	var ok bool
	err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM messages WHERE blob = $1)`, string(key)).Scan(&ok)
	return ok, dbError("blob referenced", err)
}

// Blobs calls fn for each referenced blob key once, in key order. Keys are
// read in batches through the blob index, and fn runs with no transaction
// open.
func (s *Store) Blobs(ctx context.Context, fn func(blob.Key) error) error {
	after := ""
	for {
		keys, err := s.blobBatch(ctx, after)
		if err != nil {
			return dbError("list blobs", err)
		}
		for _, k := range keys {
			if err := fn(blob.Key(k)); err != nil {
				return err
			}
		}
		if len(keys) < batchSize {
			return nil
		}
		after = keys[len(keys)-1]
	}
}

func (s *Store) blobBatch(ctx context.Context, after string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT blob FROM messages WHERE blob > $1 ORDER BY blob LIMIT $2`, after, batchSize)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// MessagesWithBlob reads the account's messages with the blob through
// the (blob, account) index: a message sent to many accounts of the
// store is one blob, and the rows of the other accounts are not read.
func (s *Store) MessagesWithBlob(ctx context.Context, acct store.Account, key blob.Key) ([]store.Message, error) {
	st, err := s.rq.Stmt(ctx, `SELECT `+messageColumns+` FROM messages m WHERE m.blob = $1 AND m.account = $2 ORDER BY m.id`)
	if err != nil {
		return nil, dbError("messages with blob", err)
	}
	rows, err := st.QueryContext(ctx, string(key), acct)
	if err != nil {
		return nil, dbError("messages with blob", err)
	}
	defer rows.Close()
	var l []store.Message
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, dbError("messages with blob", err)
		}
		l = append(l, r.Message)
	}
	return l, dbError("messages with blob", rows.Err())
}
