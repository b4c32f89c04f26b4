package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"casella/internal/store"
)

// ClaimRecent raises the mailbox's recent mark in a write transaction, so
// that of two sessions claiming at once one sees the other's mark. Since
// the mark never goes down, a mark already at upTo on the read pool ends
// the claim without taking the writer: every session but the first to see
// a new message claims nothing, and costs no write.
func (s *Store) ClaimRecent(ctx context.Context, acct store.Account, mailbox int64, upTo uint32) (uint32, error) {
	var mark uint32
	err := s.r.QueryRowContext(ctx, `SELECT recent_mark FROM mailboxes WHERE id = $1 AND account = $2`, mailbox, acct).Scan(&mark)
	if err == sql.ErrNoRows {
		return 0, fmt.Errorf("claim recent: mailbox %d: %w", mailbox, store.ErrNotFound)
	} else if err != nil {
		return 0, dbError("claim recent", err)
	}
	if upTo <= mark {
		return mark, nil
	}
	err = s.write(ctx, "claim recent", acct, false, func(w *wtx) error {
		if _, err := w.box(mailbox); err != nil {
			return err
		}
		if err := w.tx.QueryRowContext(w.ctx, `SELECT recent_mark FROM mailboxes WHERE id = $1`, mailbox).Scan(&mark); err != nil {
			return fmt.Errorf("read recent mark of mailbox %d: %w", mailbox, err)
		}
		if upTo <= mark {
			return nil
		}
		if _, err := w.exec(`UPDATE mailboxes SET recent_mark = $1 WHERE id = $2`, upTo, mailbox); err != nil {
			return fmt.Errorf("raise recent mark of mailbox %d: %w", mailbox, err)
		}
		return nil
	})
	return mark, err
}
