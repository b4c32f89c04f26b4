package sqldir

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"casella/internal/directory"
)

// LockAccount records a lock on the account with address, replacing an
// earlier one; an address that is no account is ignored.
func (d *Dir) LockAccount(ctx context.Context, address string, l directory.Lock) error {
	addr, err := directory.Canonical(address)
	if err != nil {
		return nil
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO account_locks (account, locked_since, locked_until, failures, source)
			SELECT id, $1, $2, $3, $4 FROM accounts WHERE address = $5
			ON CONFLICT (account) DO UPDATE SET locked_since = excluded.locked_since,
				locked_until = excluded.locked_until, failures = excluded.failures, source = excluded.source`,
			l.Since.Unix(), l.Until.Unix(), l.Failures, l.From, addr)
		if err != nil {
			return fmt.Errorf("lock account %s: %w", addr, err)
		}
		return nil
	})
}

// AccountLock returns the lock that holds on the account now, if any.
func (d *Dir) AccountLock(ctx context.Context, address string) (directory.Lock, bool, error) {
	addr, err := directory.Canonical(address)
	if err != nil {
		return directory.Lock{}, false, nil
	}
	var since, until int64
	var l directory.Lock
	err = d.db.QueryRowContext(ctx, `SELECT l.locked_since, l.locked_until, l.failures, l.source FROM account_locks l
		JOIN accounts a ON a.id = l.account WHERE a.address = $1 AND l.locked_until > $2`, addr, now()).
		Scan(&since, &until, &l.Failures, &l.From)
	if errors.Is(err, sql.ErrNoRows) {
		return directory.Lock{}, false, nil
	}
	if err != nil {
		return directory.Lock{}, false, fmt.Errorf("account lock of %s: %w", addr, err)
	}
	l.Since, l.Until = time.Unix(since, 0), time.Unix(until, 0)
	return l, true, nil
}

// UnlockAccount removes the account's lock; it reports whether one held
// (an expired lock does not count).
func (d *Dir) UnlockAccount(ctx context.Context, address string) (bool, error) {
	addr, err := directory.Canonical(address)
	if err != nil {
		return false, fmt.Errorf("unlock account: %w", err)
	}
	var held bool
	err = d.write(ctx, func(tx *sql.Tx) error {
		a, err := accountBy(ctx, tx, "address", addr)
		if err != nil {
			return err
		}
		var until int64
		err = tx.QueryRowContext(ctx, `DELETE FROM account_locks WHERE account = $1 RETURNING locked_until`, int64(a.ID)).Scan(&until)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		held = until > now()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("unlock account: %w", err)
	}
	return held, nil
}
