package sqlstore

import (
	"context"
	"fmt"

	"casella/internal/store"
)

// ClaimRecent raises the mailbox's recent mark in a write transaction, so
// that of two sessions claiming at once one sees the other's mark. A
// claim that raises nothing changes no page, and its commit costs no sync.
// A mark only grows, so one read already at or past upTo answers without
// the write, which would wait for the writer behind other sessions' writes
// (a SELECT of a mailbox whose messages are all claimed).
func (s *Store) ClaimRecent(ctx context.Context, acct store.Account, mailbox int64, upTo uint32) (uint32, error) {
	var mark uint32
	if st, err := s.rq.Stmt(ctx, `SELECT recent_mark FROM mailboxes WHERE id = $1 AND account = $2`); err == nil {
		if err := st.QueryRowContext(ctx, mailbox, acct).Scan(&mark); err == nil && upTo <= mark {
			return mark, nil
		}
	}
	err := s.write(ctx, "claim recent", acct, false, func(w *wtx) error {
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
