package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"casella/internal/store"
)

// EnsureAccount creates the account with its default mailboxes, subscribed,
// if it does not exist. Default mailboxes the user deleted later are not
// recreated.
func (s *Store) EnsureAccount(ctx context.Context, acct store.Account) error {
	var one int
	err := s.rq.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = $1`, acct).Scan(&one)
	if err == nil {
		return nil
	} else if err != sql.ErrNoRows {
		return dbError("ensure account", err)
	}
	return s.write(ctx, "ensure account", acct, true, func(*wtx) error { return nil })
}

// DeleteAccount removes the account; foreign keys cascade to its mailboxes,
// messages, change log and delivery keys.
func (s *Store) DeleteAccount(ctx context.Context, acct store.Account) error {
	return s.write(ctx, "delete account", acct, false, func(w *wtx) error {
		if _, err := w.exec(`DELETE FROM accounts WHERE id = $1`, acct); err != nil {
			return fmt.Errorf("delete account %d: %w", acct, err)
		}
		w.gone, w.changed = true, true
		return nil
	})
}

// Usage returns the account's message count and bytes: the sums of its
// mailboxes' counters, which a write updates anyway, so that no write
// has to update a row of the account's as well.
func (s *Store) Usage(ctx context.Context, acct store.Account) (store.Usage, error) {
	var u store.Usage
	err := s.rq.QueryRowContext(ctx, `SELECT
		(SELECT CAST(coalesce(sum(messages), 0) AS BIGINT) FROM mailboxes WHERE account = a.id),
		(SELECT CAST(coalesce(sum(size), 0) AS BIGINT) FROM mailboxes WHERE account = a.id)
		FROM accounts a WHERE id = $1`, acct).Scan(&u.Messages, &u.Bytes)
	if err == sql.ErrNoRows {
		return u, fmt.Errorf("usage: account %d: %w", acct, store.ErrNotFound)
	}
	return u, dbError("usage", err)
}
