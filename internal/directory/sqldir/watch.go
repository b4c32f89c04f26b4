package sqldir

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"casella/internal/directory"
	"casella/internal/store"
)

var _ directory.RecordWatch = (*Dir)(nil)

// errUnchanged is returned by the function of a recordWrite that found
// nothing to change: the write succeeds, and no one is told or woken.
var errUnchanged = errors.New("unchanged")

// recordWrite runs fn, a change of acct's scripts, app passwords or
// submissions, in a write transaction that also tells the other
// processes (Dialect.RecordNotify), and wakes this process's watchers of
// acct once it committed.
func (d *Dir) recordWrite(ctx context.Context, acct store.Account, fn func(tx *sql.Tx) error) error {
	err := d.write(ctx, func(tx *sql.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return d.notify(ctx, tx, acct)
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	if err == nil {
		d.recordWatch.Wake(acct)
	}
	return err
}

// notify tells the other processes, at the commit of tx, that acct's
// records changed (Dialect.RecordNotify).
func (d *Dir) notify(ctx context.Context, tx *sql.Tx, acct store.Account) error {
	if d.recordNotify == "" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, d.recordNotify, strconv.FormatInt(int64(acct), 10)); err != nil {
		return fmt.Errorf("notify of a change of the account's records: %w", err)
	}
	return nil
}

// WatchRecords returns a channel that receives after changes of acct's
// records: those made through this Dir, and those the engine hears of
// from other processes (WakeRecords).
func (d *Dir) WatchRecords(acct store.Account) (<-chan struct{}, func()) {
	return d.recordWatch.Watch(acct)
}

// WakeRecords wakes the watchers of acct's records, for an engine that
// heard of another process's change.
func (d *Dir) WakeRecords(acct store.Account) { d.recordWatch.Wake(acct) }

// WakeAllRecords wakes every watcher of records, for an engine that may
// have missed news of other processes' changes.
func (d *Dir) WakeAllRecords() { d.recordWatch.WakeAll() }
