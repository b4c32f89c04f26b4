// Package sqlite implements the mailbox store (package store) on SQLite,
// with the pure Go driver modernc.org/sqlite. It is the embedded default:
// one database file in the data directory holds every account's mailboxes,
// messages, flags and change log; message bytes live in the blob store.
//
// Implementation notes:
//   - The database runs in WAL mode with synchronous=FULL: a transaction is
//     on stable storage when Commit returns, so Deliver and Append are
//     durable when they return (DESIGN.md invariant 1).
//   - SQLite has one writer. Every write goes through the single
//     connection of Store.w, in a BEGIN IMMEDIATE transaction, so that a
//     writer in another process (the admin CLI) waits on busy_timeout
//     instead of deadlocking on a lock upgrade. Reads use the pool Store.r,
//     whose connections are query_only.
//   - One goroutine, the writer, owns Store.w's transactions and commits
//     concurrent callers' writes together, each in its own savepoint
//     (group.go). A caller is answered only after the shared commit.
//   - MODSEQ comes from accounts.modseq, read and written back inside the
//     write transaction. Every change log row has its own MODSEQ, so that
//     paging Changes with a limit never splits one MODSEQ.
//   - Mailbox and account counters are updated in the same transaction as
//     the messages they count (see wtx.finish); never update one without
//     the other.
//   - Watchers are notified only after Commit returned.
//   - Messages and Blobs read in batches and call the caller's function
//     with no transaction open, so a slow IMAP client never pins a read
//     snapshot (which would stop WAL checkpoints) or a pool connection.
//   - Every query that takes a mailbox ID also checks the account, so that
//     one account can never reach another's mailbox (store.ErrNotFound).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"casella/internal/sqlprep"
	"casella/internal/store"
)

// busyTimeout is how long, in milliseconds, a statement waits for a lock
// held by another connection or process before failing with SQLITE_BUSY.
const busyTimeout = 10000

// mmapSize lets SQLite read the database file through a memory map of up
// to this many bytes, which saves a system call per page on large scans.
const mmapSize = 1 << 30

// cacheSize is the page cache of each connection; negative means KiB
// (SQLite's PRAGMA cache_size).
const cacheSize = -8192

// Store is a store.Store on one SQLite database file.
type Store struct {
	w *sql.DB // exactly one connection; all writes
	r *sql.DB // read-only pool

	// rq and wq hold the statements prepared on r and w: the driver
	// parses an unprepared query on every call, which is a good part of a
	// small read's cost and of a delivery's.
	rq, wq *sqlprep.Cache

	mu       sync.Mutex
	watchers map[store.Account]map[*watcher]struct{}

	// The writer goroutine runs every write transaction (group.go).
	// Callers queue on reqs holding sending for reading; Close takes it
	// for writing to set closed and close reqs.
	reqs       chan *writeReq
	sending    sync.RWMutex
	closed     bool
	writerDone chan struct{}
	groupSizes prometheus.Histogram

	// The checkpointer copies the WAL into the database file on its own
	// connection, ck, after commits signalled on committed (group.go).
	ck        *sql.DB
	committed chan struct{}
	ckDone    chan struct{}
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the database at path, applies pending schema
// migrations and returns the store. Several Stores, in this process or
// others, may open the same file.
func Open(path string) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open mailbox store: unusable database path %q", path)
	}
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=mmap_size(%d)&_pragma=cache_size(%d)&_time_format=sqlite", busyTimeout, mmapSize, cacheSize)
	w, err := sql.Open("sqlite", path+"?"+common+"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=wal_autocheckpoint(0)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open mailbox store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrateSchema(context.Background(), w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open mailbox store %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open mailbox store %s: %w", path, err)
	}
	ck, err := sql.Open("sqlite", path+"?"+common+"&_pragma=synchronous(FULL)")
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open mailbox store %s: %w", path, err)
	}
	ck.SetMaxOpenConns(1)
	n := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.Ping(); err != nil {
		w.Close()
		r.Close()
		ck.Close()
		return nil, fmt.Errorf("open mailbox store %s: %w", path, err)
	}
	s := &Store{w: w, r: r, rq: sqlprep.New(r), wq: sqlprep.New(w), watchers: map[store.Account]map[*watcher]struct{}{},
		reqs: make(chan *writeReq, maxGroup), writerDone: make(chan struct{}), groupSizes: groupMetrics(),
		ck: ck, committed: make(chan struct{}, 1), ckDone: make(chan struct{})}
	go s.writer()
	go s.checkpointer()
	return s, nil
}

// Close lets the writer finish the writes queued already and closes the
// database connections. Writes after Close fail. Watch channels stay open;
// their cancel functions remain safe to call.
func (s *Store) Close() error {
	s.sending.Lock()
	if !s.closed {
		s.closed = true
		close(s.reqs)
	}
	s.sending.Unlock()
	<-s.writerDone
	<-s.ckDone
	return errors.Join(s.rq.Close(), s.wq.Close(), s.r.Close(), s.w.Close(), s.ck.Close())
}

// dbError wraps an error from the database: sentinel store errors pass
// through with context, anything else is an internal failure and wraps
// store.ErrUnavailable, keeping the cause for errors.As.
func dbError(op string, err error) error {
	if err == nil {
		return nil
	}
	for _, e := range []error{store.ErrNotFound, store.ErrExists, store.ErrInvalidName, store.ErrNotPermitted, store.ErrHasChildren, store.ErrInvalidFlag} {
		if errors.Is(err, e) {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	return fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, err)
}

// isConstraint reports whether err is an SQLite constraint violation, such
// as a UNIQUE index refusing a duplicate name.
func isConstraint(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

// write runs fn in a write transaction for acct and commits it. The account
// must exist unless create is set, in which case it is created. Watchers of
// the account are notified after the commit when fn changed anything.
func (s *Store) write(ctx context.Context, op string, acct store.Account, create bool, fn func(w *wtx) error) error {
	return s.writeEach(ctx, op, []store.Account{acct}, create, func(w *wtx, _ int) error { return fn(w) })
}

// checkAccount returns store.ErrNotFound unless acct exists.
func checkAccount(ctx context.Context, q querier, acct store.Account) error {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = ?`, acct).Scan(&one)
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
