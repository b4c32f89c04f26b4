package sqlstore

import (
	"context"
	"fmt"

	"casella/internal/store"
)

// Metadata returns the annotations of a mailbox, or of the account for
// mailbox 0.
func (s *Store) Metadata(ctx context.Context, acct store.Account, mailbox int64) ([]store.MetadataEntry, error) {
	if mailbox == 0 {
		if err := checkAccount(ctx, s.r, acct); err != nil {
			return nil, dbError("read annotations", err)
		}
	} else if err := s.checkMailbox(ctx, acct, mailbox); err != nil {
		return nil, dbError("read annotations", err)
	}
	rows, err := s.rq.QueryContext(ctx, `SELECT name, value FROM metadata WHERE account = $1 AND mailbox = $2 ORDER BY name`, acct, mailbox)
	if err != nil {
		return nil, dbError("read annotations", err)
	}
	defer rows.Close()
	var l []store.MetadataEntry
	for rows.Next() {
		var e store.MetadataEntry
		if err := rows.Scan(&e.Name, &e.Value); err != nil {
			return nil, dbError("read annotations", err)
		}
		l = append(l, e)
	}
	return l, dbError("read annotations", rows.Err())
}

// SetMetadata writes the annotations in one transaction and checks the
// entry limit once they are all written, so that a set that replaces
// entries is not refused for the ones it removes.
func (s *Store) SetMetadata(ctx context.Context, acct store.Account, mailbox int64, entries []store.MetadataEntry) error {
	names := make([]string, len(entries))
	for i, e := range entries {
		name, err := store.CanonicalMetadataName(e.Name)
		if err != nil {
			return fmt.Errorf("set annotations: %w", err)
		}
		if len(e.Value) > store.MaxMetadataValue {
			return fmt.Errorf("set annotation %s: %d bytes: %w", name, len(e.Value), store.ErrMetadataTooLarge)
		}
		names[i] = name
	}
	return s.write(ctx, "set annotations", acct, false, func(w *wtx) error {
		if mailbox != 0 {
			if _, err := w.box(mailbox); err != nil {
				return err
			}
		}
		for i, e := range entries {
			var err error
			if e.Value == nil {
				_, err = w.exec(`DELETE FROM metadata WHERE account = $1 AND mailbox = $2 AND name = $3`, w.acct, mailbox, names[i])
			} else {
				_, err = w.exec(`INSERT INTO metadata (account, mailbox, name, value) VALUES ($1, $2, $3, $4)
					ON CONFLICT (account, mailbox, name) DO UPDATE SET value = excluded.value`, w.acct, mailbox, names[i], e.Value)
			}
			if err != nil {
				return fmt.Errorf("set annotation %s: %w", names[i], err)
			}
		}
		var n int
		if err := w.tx.QueryRowContext(w.ctx, `SELECT count(*) FROM metadata WHERE account = $1 AND mailbox = $2`, w.acct, mailbox).Scan(&n); err != nil {
			return fmt.Errorf("count annotations: %w", err)
		}
		if n > store.MaxMetadataEntries {
			return fmt.Errorf("%d annotations, at most %d: %w", n, store.MaxMetadataEntries, store.ErrMetadataTooMany)
		}
		var total int64
		if err := w.tx.QueryRowContext(w.ctx, `SELECT coalesce(sum(length(value)), 0) FROM metadata WHERE account = $1`, w.acct).Scan(&total); err != nil {
			return fmt.Errorf("sum annotations: %w", err)
		}
		if total > store.MaxMetadataBytes {
			return fmt.Errorf("%d bytes of annotations, at most %d: %w", total, store.MaxMetadataBytes, store.ErrMetadataQuota)
		}
		// Logged directly, not through logChange: the mailbox's
		// HIGHESTMODSEQ counts changes of its messages only.
		if _, err := w.exec(`INSERT INTO changes (account, modseq, mailbox, uid, email_id, kind) VALUES ($1, $2, $3, 0, 0, $4)`,
			w.acct, w.nextModSeq(), mailbox, store.MetadataChanged); err != nil {
			return fmt.Errorf("log annotation change: %w", err)
		}
		return nil
	})
}
