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
//
// It is one statement, which sees one snapshot, so the entries and the
// highest MODSEQ agree without a transaction: every IMAP command of a
// session with a mailbox selected ends with this read, and a read
// transaction's BEGIN and ROLLBACK each take the connection pool's lock
// once more, where 50 sessions queue.
func (s *Store) Changes(ctx context.Context, acct store.Account, mailbox int64, since uint64, limit int) ([]store.Change, uint64, error) {
	if limit <= 0 {
		limit = math.MaxInt64
	}
	// A deleted mailbox is known by its entries, the newest of which is
	// its deletion: looked for from the end of the account's log, which is
	// where SQLite's primary key finds it (it has no index by mailbox).
	//
	// The LIMIT is a CAST, not a bare parameter: SQLite plans a
	// join with the value of a LIMIT parameter and prepares the statement
	// again whenever it changes.
	known, where := `EXISTS (SELECT 1 FROM mailboxes WHERE id = $2 AND account = $1)
		OR EXISTS (SELECT 1 FROM changes WHERE mailbox = $2 AND account = $1 ORDER BY modseq DESC LIMIT 1)`, ` AND c.mailbox = $2`
	if mailbox == 0 {
		known, where = `$2 = 0`, ``
	}
	st, err := s.rq.Stmt(ctx, `SELECT h.modseq, h.logged, h.known, c.modseq, c.mailbox, c.uid, c.email_id, c.kind
		FROM (SELECT modseq, (`+lastLoggedModSeq+`) AS logged, `+known+` AS known FROM accounts WHERE id = $1) h
		LEFT JOIN changes c ON c.account = $1`+where+` AND c.modseq > $3
		ORDER BY c.modseq LIMIT CAST($4 AS BIGINT)`)
	if err != nil {
		return nil, 0, dbError("changes", err)
	}
	rows, err := st.QueryContext(ctx, acct, mailbox, since, limit)
	if err != nil {
		return nil, 0, dbError("changes", err)
	}
	defer rows.Close()
	var (
		l       []store.Change
		rowSeq  uint64
		logSeq  uint64
		found   bool
		isKnown bool
		modseq  sql.Null[uint64]
		mb      sql.Null[int64]
		uid     sql.Null[uint32]
		emailID sql.Null[int64]
		kind    sql.Null[store.ChangeKind]
	)
	for rows.Next() {
		if err := rows.Scan(&rowSeq, &logSeq, &isKnown, &modseq, &mb, &uid, &emailID, &kind); err != nil {
			return nil, 0, dbError("changes", err)
		}
		found = true
		if modseq.Valid {
			l = append(l, store.Change{ModSeq: modseq.V, Mailbox: mb.V, UID: uid.V, EmailID: emailID.V, Kind: kind.V})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, dbError("changes", err)
	}
	switch {
	case !found:
		return nil, 0, fmt.Errorf("changes: account %d: %w", acct, store.ErrNotFound)
	case !isKnown:
		return nil, 0, fmt.Errorf("changes: mailbox %d: %w", mailbox, store.ErrNotFound)
	}
	// The account's row holds the MODSEQ of its last write that changed
	// it; the log's last entry may be higher (wtx.go).
	return l, max(rowSeq, logSeq), nil
}
