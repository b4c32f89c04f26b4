package sqldir

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"casella/internal/directory"
	"casella/internal/store"
)

var _ directory.SieveMemory = (*Dir)(nil)

// ClaimSieveRecord makes owner the holder of a record unless another owner
// holds it unexpired. One upsert decides, so two nodes claiming at once
// cannot both win; it does not take the directory's write lock, which
// guards account and address checks, not these rows. Expired records of
// the account are removed on the way.
func (d *Dir) ClaimSieveRecord(ctx context.Context, acct store.Account, kind, key, owner string, now, expires time.Time, refresh bool) (bool, error) {
	if _, err := d.db.ExecContext(ctx, "DELETE FROM sieve_records WHERE account = $1 AND expires <= $2", int64(acct), now.Unix()); err != nil {
		return false, fmt.Errorf("sieve %s record: removing expired ones: %w", kind, err)
	}
	_, err := d.db.ExecContext(ctx, `INSERT INTO sieve_records (account, kind, key, owner, expires) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (account, kind, key) DO UPDATE SET
			owner = CASE WHEN sieve_records.expires <= $6 THEN excluded.owner ELSE sieve_records.owner END,
			expires = CASE WHEN sieve_records.expires <= $6 OR sieve_records.owner = excluded.owner OR $7 THEN excluded.expires ELSE sieve_records.expires END`,
		int64(acct), kind, key, owner, expires.Unix(), now.Unix(), refresh)
	if err != nil {
		return false, fmt.Errorf("sieve %s record: %w", kind, err)
	}
	var holder string
	err = d.db.QueryRowContext(ctx, "SELECT owner FROM sieve_records WHERE account = $1 AND kind = $2 AND key = $3", int64(acct), kind, key).Scan(&holder)
	if err != nil {
		return false, fmt.Errorf("sieve %s record: %w", kind, err)
	}
	return holder == owner, nil
}

// SieveRecordHeld reports whether another owner holds a record unexpired.
func (d *Dir) SieveRecordHeld(ctx context.Context, acct store.Account, kind, key, owner string, now time.Time) (bool, error) {
	var holder string
	err := d.db.QueryRowContext(ctx, "SELECT owner FROM sieve_records WHERE account = $1 AND kind = $2 AND key = $3 AND expires > $4",
		int64(acct), kind, key, now.Unix()).Scan(&holder)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sieve %s record: %w", kind, err)
	}
	return holder != owner, nil
}
