package sqldir

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"casella/internal/directory"
	"casella/internal/store"
)

var _ directory.SieveWatch = (*Dir)(nil)

// sieveWrite runs fn, a change of acct's scripts, in a write transaction
// that also tells the other processes (Dialect.SieveNotify), and wakes
// this process's watchers of acct once it committed.
func (d *Dir) sieveWrite(ctx context.Context, acct store.Account, fn func(tx *sql.Tx) error) error {
	err := d.write(ctx, func(tx *sql.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if d.sieveNotify == "" {
			return nil
		}
		if _, err := tx.ExecContext(ctx, d.sieveNotify, strconv.FormatInt(int64(acct), 10)); err != nil {
			return fmt.Errorf("notify of a sieve script change: %w", err)
		}
		return nil
	})
	if err == nil {
		d.sieveWatch.Wake(acct)
	}
	return err
}

// WatchSieve returns a channel that receives after changes of acct's
// scripts: those made through this Dir, and those the engine hears of
// from other processes (WakeSieve).
func (d *Dir) WatchSieve(acct store.Account) (<-chan struct{}, func()) {
	return d.sieveWatch.Watch(acct)
}

// WakeSieve wakes the watchers of acct's scripts, for an engine that
// heard of another process's change.
func (d *Dir) WakeSieve(acct store.Account) { d.sieveWatch.Wake(acct) }

// WakeAllSieve wakes every watcher of scripts, for an engine that may
// have missed news of other processes' changes.
func (d *Dir) WakeAllSieve() { d.sieveWatch.WakeAll() }
