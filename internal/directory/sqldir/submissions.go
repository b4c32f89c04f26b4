package sqldir

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"casella/internal/directory"
	"casella/internal/migrate"
	"casella/internal/store"
)

// Submission records live beside their accounts and go with them, with
// their own schema version table. A destroyed record stays as a
// tombstone (destroyed, its data cleared, destroyed_at set) so that
// SubmissionChanges can report it; modseq is per account, one past the
// account's state, and each change takes the write lock, so two never get
// the same. ExpireSubmissions removes old tombstones and keeps the
// highest modseq it removed in submission_horizons: the account's state
// is the highest modseq of its records and its horizon, so that it never
// goes back, and changes since a state below the horizon are not told.
// Times are Unix milliseconds.
var submissionSteps = []string{
	`CREATE TABLE submissions (
		account BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
		id TEXT NOT NULL,
		identity TEXT NOT NULL,
		email TEXT NOT NULL,
		thread TEXT NOT NULL,
		envelope TEXT NOT NULL,
		send_at BIGINT NOT NULL,
		undo_status TEXT NOT NULL,
		queued TEXT NOT NULL,
		created BIGINT NOT NULL,
		modseq BIGINT NOT NULL,
		destroyed BOOLEAN NOT NULL DEFAULT FALSE,
		PRIMARY KEY (account, id)
	);
	CREATE INDEX submissions_modseq ON submissions (account, modseq);`,
	// Tombstones made before this step have destroyed_at 0: the first
	// expiry removes them, and raises the horizon past them.
	`ALTER TABLE submissions ADD COLUMN destroyed_at BIGINT NOT NULL DEFAULT 0;
	CREATE TABLE submission_horizons (
		account BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
		modseq BIGINT NOT NULL
	);`,
	// deliveryStatus as JSON; '' for records made before this step,
	// which report none.
	`ALTER TABLE submissions ADD COLUMN delivery TEXT NOT NULL DEFAULT '';`,
}

// stateQuery reads account $1's submission state.
const stateQuery = `SELECT COALESCE(MAX(modseq), 0) FROM (SELECT modseq FROM submissions WHERE account = $1
	UNION ALL SELECT modseq FROM submission_horizons WHERE account = $1) AS m`

func submissionSchema(dl Dialect) migrate.Schema {
	return migrate.Schema{Name: "submissions", Steps: submissionSteps, Lock: dl.Schema.Lock, Table: "submission_schema_version"}
}

var _ directory.Submissions = (*Dir)(nil)

// nextModSeq returns the account's next submission modseq; the caller
// holds the write lock.
func nextModSeq(ctx context.Context, tx *sql.Tx, acct store.Account) (int64, error) {
	var m int64
	if err := tx.QueryRowContext(ctx, stateQuery, int64(acct)).Scan(&m); err != nil {
		return 0, fmt.Errorf("reading submission state: %w", err)
	}
	return m + 1, nil
}

// AddSubmission stores a new record.
func (d *Dir) AddSubmission(ctx context.Context, acct store.Account, s directory.Submission) (directory.Submission, error) {
	err := d.recordWrite(ctx, acct, func(tx *sql.Tx) error {
		if err := accountExists(ctx, tx, acct); err != nil {
			return err
		}
		m, err := nextModSeq(ctx, tx, acct)
		if err != nil {
			return err
		}
		s.ModSeq, s.Created = m, m
		delivery, err := encodeDelivery(s.DeliveryStatus)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO submissions (account, id, identity, email, thread, envelope, send_at, undo_status, queued, created, modseq, delivery)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			int64(acct), s.ID, s.IdentityID, s.EmailID, s.ThreadID, string(s.Envelope), s.SendAt.UnixMilli(), s.UndoStatus,
			strings.Join(s.Queued, " "), m, m, delivery)
		return err
	})
	if err != nil {
		return directory.Submission{}, fmt.Errorf("add submission: %w", err)
	}
	return s, nil
}

// SetUndoStatus changes a record's undo status from one value to another.
func (d *Dir) SetUndoStatus(ctx context.Context, acct store.Account, id, from, to string) error {
	return d.recordWrite(ctx, acct, func(tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, "SELECT undo_status FROM submissions WHERE account = $1 AND id = $2 AND NOT destroyed", int64(acct), id).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("submission %s: %w", id, directory.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("submission %s: %w", id, err)
		}
		if status != from {
			return fmt.Errorf("submission %s is %s, not %s: %w", id, status, from, directory.ErrInUse)
		}
		m, err := nextModSeq(ctx, tx, acct)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE submissions SET undo_status = $1, modseq = $2 WHERE account = $3 AND id = $4", to, m, int64(acct), id); err != nil {
			return fmt.Errorf("submission %s: %w", id, err)
		}
		return nil
	})
}

// encodeDelivery returns the delivery column of a status map.
func encodeDelivery(m map[string]directory.DeliveryStatus) (string, error) {
	if m == nil {
		return "", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encoding delivery status: %w", err)
	}
	return string(b), nil
}

// decodeDelivery parses a delivery column.
func decodeDelivery(s string) (map[string]directory.DeliveryStatus, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]directory.DeliveryStatus
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decoding delivery status: %w", err)
	}
	return m, nil
}

// SetDeliveryStatus sets a record's status for one recipient. The read
// comes first, under the write lock, so that an unchanged status, a
// replayed delivery's, raises no state and wakes no client.
func (d *Dir) SetDeliveryStatus(ctx context.Context, acct store.Account, id, rcpt string, st directory.DeliveryStatus) error {
	return d.recordWrite(ctx, acct, func(tx *sql.Tx) error {
		var delivery string
		err := tx.QueryRowContext(ctx, "SELECT delivery FROM submissions WHERE account = $1 AND id = $2 AND NOT destroyed", int64(acct), id).Scan(&delivery)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("submission %s: %w", id, directory.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("submission %s: %w", id, err)
		}
		m, err := decodeDelivery(delivery)
		if err != nil {
			return fmt.Errorf("submission %s: %w", id, err)
		}
		if old, ok := m[rcpt]; ok && old == st {
			return errUnchanged
		}
		if m == nil {
			m = map[string]directory.DeliveryStatus{}
		}
		m[rcpt] = st
		if delivery, err = encodeDelivery(m); err != nil {
			return err
		}
		n, err := nextModSeq(ctx, tx, acct)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE submissions SET delivery = $1, modseq = $2 WHERE account = $3 AND id = $4", delivery, n, int64(acct), id); err != nil {
			return fmt.Errorf("submission %s: %w", id, err)
		}
		return nil
	})
}

// SettleSubmissions makes the account's pending records that are due
// final. A cheap read comes first, so that the common case, nothing due,
// takes no write lock.
func (d *Dir) SettleSubmissions(ctx context.Context, acct store.Account, now time.Time) (bool, error) {
	const due = "account = $1 AND undo_status = 'pending' AND send_at <= $2 AND NOT destroyed"
	var one int
	err := d.db.QueryRowContext(ctx, "SELECT 1 FROM submissions WHERE "+due+" LIMIT 1", int64(acct), now.UnixMilli()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("settle submissions: %w", err)
	}
	err = d.recordWrite(ctx, acct, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT id FROM submissions WHERE "+due+" ORDER BY send_at, id", int64(acct), now.UnixMilli())
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		m, err := nextModSeq(ctx, tx, acct)
		if err != nil {
			return err
		}
		// One modseq each, so that a client's maxChanges can cut
		// between them.
		for i, id := range ids {
			if _, err := tx.ExecContext(ctx, "UPDATE submissions SET undo_status = 'final', modseq = $1 WHERE account = $2 AND id = $3",
				m+int64(i), int64(acct), id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("settle submissions: %w", err)
	}
	return true, nil
}

// destroyQuery makes record $4 of account $3 a tombstone with modseq $1,
// destroyed at $2.
const destroyQuery = `UPDATE submissions SET destroyed = TRUE, modseq = $1, destroyed_at = $2, envelope = '', queued = '', delivery = ''
	WHERE account = $3 AND id = $4 AND NOT destroyed`

// DestroySubmission removes a record, leaving its tombstone.
func (d *Dir) DestroySubmission(ctx context.Context, acct store.Account, id string) error {
	return d.recordWrite(ctx, acct, func(tx *sql.Tx) error {
		m, err := nextModSeq(ctx, tx, acct)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, destroyQuery, m, time.Now().UnixMilli(), int64(acct), id)
		if err != nil {
			return fmt.Errorf("destroy submission %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("destroy submission %s: %w", id, directory.ErrNotFound)
		}
		return nil
	})
}

// SubmissionState returns the account's state and its next pending
// release, which push streams read at every change of the account.
func (d *Dir) SubmissionState(ctx context.Context, acct store.Account) (int64, time.Time, error) {
	var state int64
	var next sql.NullInt64
	err := d.db.QueryRowContext(ctx, `SELECT (`+stateQuery+`), MIN(CASE WHEN undo_status = 'pending' AND NOT destroyed THEN send_at END)
		FROM submissions WHERE account = $1`, int64(acct)).Scan(&state, &next)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("submission state: %w", err)
	}
	if !next.Valid {
		return state, time.Time{}, nil
	}
	return state, time.UnixMilli(next.Int64), nil
}

// Submissions returns the account's records, oldest first, and its
// state. The state is read first: records newer than it are reported
// again by the next SubmissionChanges, which is harmless, whereas a state
// newer than the records would hide changes.
func (d *Dir) Submissions(ctx context.Context, acct store.Account) ([]directory.Submission, int64, error) {
	var state int64
	if err := d.db.QueryRowContext(ctx, stateQuery, int64(acct)).Scan(&state); err != nil {
		return nil, 0, fmt.Errorf("list submissions: %w", err)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT id, identity, email, thread, envelope, send_at, undo_status, queued, created, modseq, delivery
		FROM submissions WHERE account = $1 AND NOT destroyed ORDER BY created`, int64(acct))
	if err != nil {
		return nil, 0, fmt.Errorf("list submissions: %w", err)
	}
	defer rows.Close()
	var out []directory.Submission
	for rows.Next() {
		var s directory.Submission
		var env, queued, delivery string
		var sendAt int64
		if err := rows.Scan(&s.ID, &s.IdentityID, &s.EmailID, &s.ThreadID, &env, &sendAt, &s.UndoStatus, &queued, &s.Created, &s.ModSeq, &delivery); err != nil {
			return nil, 0, fmt.Errorf("list submissions: %w", err)
		}
		var err error
		if s.DeliveryStatus, err = decodeDelivery(delivery); err != nil {
			return nil, 0, fmt.Errorf("list submissions: %s: %w", s.ID, err)
		}
		s.Envelope, s.SendAt, s.Queued = []byte(env), time.UnixMilli(sendAt), strings.Fields(queued)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list submissions: %w", err)
	}
	return out, state, nil
}

// SubmissionChanges returns the records changed after since; the state
// is read first, as in Submissions, and the horizon last: an expiry that
// removed tombstones before the changes were read has raised it by then.
func (d *Dir) SubmissionChanges(ctx context.Context, acct store.Account, since int64) ([]directory.Change, int64, error) {
	var state int64
	if err := d.db.QueryRowContext(ctx, stateQuery, int64(acct)).Scan(&state); err != nil {
		return nil, 0, fmt.Errorf("submission changes: %w", err)
	}
	out, err := readChanges(ctx, d.db, "submission changes", "SELECT id, modseq, created, destroyed FROM submissions WHERE account = $1 AND modseq > $2 ORDER BY modseq",
		int64(acct), since)
	if err != nil {
		return nil, 0, err
	}
	var horizon int64
	err = d.db.QueryRowContext(ctx, "SELECT modseq FROM submission_horizons WHERE account = $1", int64(acct)).Scan(&horizon)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, 0, fmt.Errorf("submission changes: %w", err)
	}
	if since < horizon {
		return nil, 0, fmt.Errorf("submission changes since %d, before %d: %w", since, horizon, directory.ErrChangesExpired)
	}
	return out, state, nil
}

// ExpireSubmissions removes old tombstones, raising their accounts'
// horizons, and then makes the old finished records tombstones, in one
// write transaction. The tombstones go first, so that those made here
// stay for another period and clients see the records destroyed.
func (d *Dir) ExpireSubmissions(ctx context.Context, before time.Time) (destroyed, removed int, err error) {
	cutoff, now := before.UnixMilli(), time.Now().UnixMilli()
	// The accounts whose records are destroyed: their push streams, on
	// every node, are told, as of any other destruction.
	var accounts []store.Account
	err = d.write(ctx, func(tx *sql.Tx) error {
		accounts = accounts[:0]
		if _, err := tx.ExecContext(ctx, `INSERT INTO submission_horizons (account, modseq)
			SELECT account, MAX(modseq) FROM submissions WHERE destroyed AND destroyed_at < $1 GROUP BY account
			ON CONFLICT (account) DO UPDATE SET modseq = CASE WHEN excluded.modseq > submission_horizons.modseq
				THEN excluded.modseq ELSE submission_horizons.modseq END`, cutoff); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM submissions WHERE destroyed AND destroyed_at < $1", cutoff)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		removed = int(n)

		rows, err := tx.QueryContext(ctx, `SELECT account, id FROM submissions
			WHERE NOT destroyed AND send_at < $1 ORDER BY account, send_at, id`, cutoff)
		if err != nil {
			return err
		}
		type rec struct {
			account int64
			id      string
		}
		var old []rec
		for rows.Next() {
			var r rec
			if err := rows.Scan(&r.account, &r.id); err != nil {
				rows.Close()
				return err
			}
			old = append(old, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// One modseq each, as SettleSubmissions gives them.
		var m int64
		for i, r := range old {
			if i == 0 || r.account != old[i-1].account {
				acct := store.Account(r.account)
				if m, err = nextModSeq(ctx, tx, acct); err != nil {
					return err
				}
				if err := d.notify(ctx, tx, acct); err != nil {
					return err
				}
				accounts = append(accounts, acct)
			}
			if _, err := tx.ExecContext(ctx, destroyQuery, m, now, r.account, r.id); err != nil {
				return err
			}
			m++
		}
		destroyed = len(old)
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("expire submissions: %w", err)
	}
	for _, acct := range accounts {
		d.recordWatch.Wake(acct)
	}
	return destroyed, removed, nil
}
