package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math"

	"casella/internal/store"
)

// Changes returns change log entries above since, oldest first. A mailbox
// that was deleted can still be asked about: its entries, including its
// MailboxDeleted, stay in the log.
func (s *Store) Changes(ctx context.Context, acct store.Account, mailbox int64, since uint64, limit int) ([]store.Change, uint64, error) {
	// One read transaction, so that the entries and the highest MODSEQ
	// agree.
	tx, err := s.rq.Begin(ctx, &s.d.Snapshot)
	if err != nil {
		return nil, 0, dbError("changes", err)
	}
	defer tx.Rollback()
	var rowModSeq, logModSeq uint64
	err = tx.QueryRowContext(ctx, `SELECT modseq, (`+lastLoggedModSeq+`) FROM accounts WHERE id = $1`, acct).Scan(&rowModSeq, &logModSeq)
	if err == sql.ErrNoRows {
		return nil, 0, fmt.Errorf("changes: account %d: %w", acct, store.ErrNotFound)
	} else if err != nil {
		return nil, 0, dbError("changes", err)
	}
	highest := max(rowModSeq, logModSeq)
	if limit <= 0 {
		limit = math.MaxInt64
	}
	var rows *sql.Rows
	if mailbox == 0 {
		rows, err = tx.QueryContext(ctx, `SELECT modseq, mailbox, uid, email_id, kind FROM changes
			WHERE account = $1 AND modseq > $2 ORDER BY modseq LIMIT $3`, acct, since, limit)
	} else {
		// A deleted mailbox is known by its entries, the newest of which
		// is its deletion: looked for from the end of the account's log,
		// which is where SQLite's primary key finds it (it has no index
		// by mailbox).
		var known bool
		err = tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM mailboxes WHERE id = $1 AND account = $2)
			OR EXISTS (SELECT 1 FROM changes WHERE mailbox = $1 AND account = $2 ORDER BY modseq DESC LIMIT 1)`, mailbox, acct).Scan(&known)
		if err != nil {
			return nil, 0, dbError("changes", err)
		}
		if !known {
			return nil, 0, fmt.Errorf("changes: mailbox %d: %w", mailbox, store.ErrNotFound)
		}
		rows, err = tx.QueryContext(ctx, `SELECT modseq, mailbox, uid, email_id, kind FROM changes
			WHERE mailbox = $1 AND account = $2 AND modseq > $3 ORDER BY modseq LIMIT $4`, mailbox, acct, since, limit)
	}
	if err != nil {
		return nil, 0, dbError("changes", err)
	}
	defer rows.Close()
	var l []store.Change
	for rows.Next() {
		var c store.Change
		if err := rows.Scan(&c.ModSeq, &c.Mailbox, &c.UID, &c.EmailID, &c.Kind); err != nil {
			return nil, 0, dbError("changes", err)
		}
		l = append(l, c)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, dbError("changes", err)
	}
	return l, highest, nil
}
