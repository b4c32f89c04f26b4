package sqldir

import (
	"context"
	"database/sql"
	"fmt"

	"casella/internal/directory"
	"casella/internal/store"
)

// readChanges runs query, which selects id, modseq, the modseq of
// creation and whether the record is destroyed for the records changed
// after since ($2), by modseq, and returns them as changes; what names
// them in errors.
func readChanges(ctx context.Context, q queryer, what, query string, acct int64, since int64) ([]directory.Change, error) {
	rows, err := q.QueryContext(ctx, query, acct, since)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []directory.Change
	for rows.Next() {
		var c directory.Change
		var created int64
		if err := rows.Scan(&c.ID, &c.ModSeq, &created, &c.Destroyed); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		c.Created = created > since
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// tombstoneLog is the change log of records that live in one table and
// leave a tombstone in another when destroyed, as Sieve scripts and app
// passwords do: each live row has an id, its modseq (when it last
// changed) and the modseq it was created at; the tombstone table has
// (account, id, modseq, created_modseq). The account's state is the
// highest modseq of both, so a change takes the next under the write
// lock and two never share one.
type tombstoneLog struct {
	what  string // names the records in errors
	state string // the query of the state
	read  string // the query of the changes, for readChanges
}

// newTombstoneLog returns the log of the records in table live, whose
// creation modseq is in column created, with tombstones in table dead.
func newTombstoneLog(what, live, created, dead string) tombstoneLog {
	return tombstoneLog{
		what: what,
		state: `SELECT COALESCE(MAX(m), 0) FROM (SELECT modseq AS m FROM ` + live + ` WHERE account = $1
			UNION ALL SELECT modseq FROM ` + dead + ` WHERE account = $1) AS t`,
		read: `SELECT id, modseq, ` + created + `, FALSE FROM ` + live + ` WHERE account = $1 AND modseq > $2
			UNION ALL SELECT id, modseq, created_modseq, TRUE FROM ` + dead + ` WHERE account = $1 AND modseq > $2
			ORDER BY 2`,
	}
}

// State returns the account's state.
func (l tombstoneLog) State(ctx context.Context, q queryer, acct store.Account) (int64, error) {
	var state int64
	if err := q.QueryRowContext(ctx, l.state, int64(acct)).Scan(&state); err != nil {
		return 0, fmt.Errorf("%s state: %w", l.what, err)
	}
	return state, nil
}

// Next returns the modseq of the account's next change; the caller holds
// the write lock.
func (l tombstoneLog) Next(ctx context.Context, tx *sql.Tx, acct store.Account) (int64, error) {
	m, err := l.State(ctx, tx, acct)
	return m + 1, err
}

// Changes returns the records and tombstones changed after since, and
// the state. The state is read first: a change made meanwhile is
// reported again by the next call, which is harmless, whereas a state
// newer than the changes read would hide one.
func (l tombstoneLog) Changes(ctx context.Context, q queryer, acct store.Account, since int64) ([]directory.Change, int64, error) {
	state, err := l.State(ctx, q, acct)
	if err != nil {
		return nil, 0, err
	}
	out, err := readChanges(ctx, q, l.what+" changes", l.read, int64(acct), since)
	if err != nil {
		return nil, 0, err
	}
	return out, state, nil
}
