// Package sqlstore is the mailbox store (package store) on an SQL
// database, written once for the engines Casella runs on: SQLite (package
// store/sqlite) and PostgreSQL (package store/postgres). Those packages
// open the database, own its schema and fill in a Dialect; everything
// else, the meaning of UIDs, MODSEQs, the change log, delivery keys and
// counters, lives here.
//
// Implementation notes:
//   - Queries use numbered parameters ($1, $2, ...), which PostgreSQL
//     takes and the SQLite driver binds by ordinal, and only SQL both
//     engines read the same way.
//   - Every write transaction reads its account row first, locked on
//     engines with several writers (Dialect.LockAccount): all writes to an
//     account are serialized, so MODSEQs and UIDs handed out from the
//     values read are unique and grow in commit order, whichever node
//     writes. A batch over several accounts takes them in ascending order,
//     so two batches never wait for each other in a circle.
//   - An account's last MODSEQ is its change log's last entry's (or the
//     account row's, which keeps one from before the log and is written
//     only when a mailbox is created), read after the account row is
//     locked. Every MODSEQ handed out gets its log entry in the same
//     transaction, so a STORE, EXPUNGE, COPY or APPEND never rewrites the
//     account row, which every write of the account would otherwise
//     contend for. Every change log row has its own MODSEQ, so that
//     paging Changes with a limit never splits one MODSEQ.
//   - Mailbox counters are updated in the same transaction as the
//     messages they count (see wtx.finish); never update one without the
//     other. The account's are their sums (Usage).
//   - Watchers are notified only after Commit returned.
//   - Messages and Blobs read in batches and call the caller's function
//     with no transaction open, so a slow IMAP client never pins a read
//     snapshot or a pool connection.
//   - Every query that takes a mailbox ID also checks the account, so that
//     one account can never reach another's mailbox (store.ErrNotFound).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"casella/internal/sqlprep"
	"casella/internal/store"
)

// Dialect is what differs between the engines.
type Dialect struct {
	// LockAccount is appended to the query that reads the account row at
	// the start of a write transaction: " FOR UPDATE" where several
	// connections write at once. SQLite, with one writer, needs none.
	LockAccount string
	// Snapshot are the options of a read transaction whose queries must
	// all see one snapshot (Changes).
	Snapshot sql.TxOptions
	// Notify, when set, runs within each write transaction once per
	// changed account, with the account ID as its one argument, so that
	// other processes learn of the change when it commits (PostgreSQL's
	// pg_notify).
	Notify string
	// Group, when set, runs every write transaction's work instead of a
	// transaction of its own (SQLite's group commit).
	Group GroupFunc
}

// GroupFunc runs work, a caller's write transaction, at most once, within
// a transaction that may hold other callers' work too, under a context of
// its own, and returns only once that transaction committed; or with
// work's error after undoing work alone; or with the error that undid
// them all, work's changes with them.
type GroupFunc func(ctx context.Context, work func(ctx context.Context, tx *sqlprep.Tx) error) error

// Store is a store.Store on an SQL database.
type Store struct {
	w *sql.DB // all writes
	r *sql.DB // reads; may be w

	// rq and wq hold the statements prepared on r and w: a driver parses
	// an unprepared query on every call, which is a good part of a small
	// read's cost and of a delivery's.
	rq, wq *sqlprep.Cache

	d Dialect

	metas store.MetaCache // decoded metadata (decodeMeta)

	mu       sync.Mutex
	watchers map[store.Account]map[*watcher]struct{}
}

var _ store.Store = (*Store)(nil)

// New returns a store on the databases, whose schema the caller has
// brought up to date: w for writes, r for reads (w again when the engine
// has no reason to separate them).
func New(w, r *sql.DB, d Dialect) *Store {
	rq := sqlprep.New(r)
	wq := rq
	if w != r {
		wq = sqlprep.New(w)
	}
	return &Store{w: w, r: r, rq: rq, wq: wq, d: d, watchers: map[store.Account]map[*watcher]struct{}{}}
}

// Close closes the prepared statements and the databases. Watch channels
// stay open; their cancel functions remain safe to call.
func (s *Store) Close() error {
	if s.w == s.r {
		return errors.Join(s.rq.Close(), s.r.Close())
	}
	return errors.Join(s.rq.Close(), s.wq.Close(), s.r.Close(), s.w.Close())
}

// dbError wraps an error from the database: sentinel store errors pass
// through with context, anything else is an internal failure and wraps
// store.ErrUnavailable, keeping the cause for errors.As.
func dbError(op string, err error) error {
	if err == nil {
		return nil
	}
	for _, e := range []error{store.ErrNotFound, store.ErrExists, store.ErrInvalidName, store.ErrNotPermitted, store.ErrHasChildren, store.ErrInvalidFlag, store.ErrTooManyKeywords,
		store.ErrMetadataTooLarge, store.ErrMetadataTooMany, store.ErrMetadataName, store.ErrMetadataQuota} {
		if errors.Is(err, e) {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	return fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, err)
}

// write runs fn in a write transaction for acct and commits it. The account
// must exist unless create is set, in which case it is created. Watchers of
// the account are notified after the commit when fn changed anything.
func (s *Store) write(ctx context.Context, op string, acct store.Account, create bool, fn func(w *wtx) error) error {
	return s.writeEach(ctx, op, []store.Account{acct}, create, func(w *wtx, _ int) error { return fn(w) })
}

// writeEach runs fn once for each of accts, which must be in ascending
// order, with the account's state, in one transaction, and commits once.
// Watchers of every changed account are notified after the commit. With
// Dialect.Group, the transaction is a part of the group's (see GroupFunc).
func (s *Store) writeEach(ctx context.Context, op string, accts []store.Account, create bool, fn func(w *wtx, i int) error) error {
	var changed []store.Account
	work := func(ctx context.Context, tx *sqlprep.Tx) error {
		changed = changed[:0]
		return s.runAccounts(ctx, tx, accts, create, fn, &changed)
	}
	var err error
	if s.d.Group != nil {
		err = s.d.Group(ctx, work)
	} else {
		err = s.transact(ctx, work)
	}
	if err != nil {
		return dbError(op, err)
	}
	for _, acct := range changed {
		s.Wake(acct)
	}
	return nil
}

// transact runs work in a transaction of its own and commits it.
func (s *Store) transact(ctx context.Context, work func(context.Context, *sqlprep.Tx) error) error {
	tx, err := s.wq.Begin(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := work(ctx, tx); err != nil {
		return err
	}
	return tx.Commit()
}

// runAccounts is the work of writeEach within tx: fn for each account,
// its counters written back, and the accounts it changed appended to
// changed.
func (s *Store) runAccounts(ctx context.Context, tx *sqlprep.Tx, accts []store.Account, create bool, fn func(w *wtx, i int) error, changed *[]store.Account) error {
	stmts := map[string]*sql.Stmt{}
	for i, acct := range accts {
		w := &wtx{ctx: ctx, tx: tx, acct: acct, lock: s.d.LockAccount, boxes: map[int64]*boxState{}, stmts: stmts}
		if err := w.load(create); err != nil {
			return err
		}
		if err := fn(w, i); err != nil {
			return err
		}
		if err := w.finish(); err != nil {
			return err
		}
		if w.changed {
			*changed = append(*changed, acct)
		}
	}
	if s.d.Notify != "" {
		for _, acct := range *changed {
			if _, err := tx.ExecContext(ctx, s.d.Notify, strconv.FormatInt(int64(acct), 10)); err != nil {
				return fmt.Errorf("notify: %w", err)
			}
		}
	}
	return nil
}

// sortedAccounts returns the distinct accounts of l in ascending order.
func sortedAccounts(l []store.Account) []store.Account {
	l = slices.Clone(l)
	slices.Sort(l)
	return slices.Compact(l)
}

// checkAccount returns store.ErrNotFound unless acct exists.
func checkAccount(ctx context.Context, q querier, acct store.Account) error {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = $1`, acct).Scan(&one)
	if err == sql.ErrNoRows {
		return fmt.Errorf("account %d: %w", acct, store.ErrNotFound)
	}
	return err
}

// querier is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}
