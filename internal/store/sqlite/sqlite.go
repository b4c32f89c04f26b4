// Package sqlite implements the mailbox store (package store) on SQLite,
// with the pure Go driver modernc.org/sqlite. It is the embedded default:
// one database file in the data directory holds every account's mailboxes,
// messages, flags and change log; message bytes live in the blob store.
// The store's logic is package sqlstore's; this package opens the file and
// owns its schema.
//
// Implementation notes:
//   - The database runs in WAL mode with synchronous=FULL: a transaction is
//     on stable storage when Commit returns, so Deliver and Append are
//     durable when they return (DESIGN.md invariant 1). SQLite syncs with
//     fdatasync(2) (see Open).
//   - SQLite has one writer. Every write goes through the single
//     connection of the write pool, in a BEGIN IMMEDIATE transaction, so
//     that a writer in another process (the admin CLI) waits on
//     busy_timeout instead of deadlocking on a lock upgrade; that is also
//     what serializes the writes to an account. Reads use a pool whose
//     connections are query_only.
//   - One goroutine, the writer, owns the write connection's transactions
//     and commits concurrent callers' writes together, each in its own
//     savepoint (group.go). A caller is answered only after the shared
//     commit.
//   - The writer never checkpoints the WAL; the checkpointer does, on a
//     connection of its own (checkpoint.go).
//   - Watch hears only of changes made through the same Store: another
//     process's commits are not seen until this Store changes the account
//     too.
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
	"modernc.org/sqlite" // and the "sqlite" database/sql driver

	"casella/internal/sqlprep"
	"casella/internal/store/sqlstore"
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
	*sqlstore.Store
	w, r  *sql.DB
	group *groupWriter
	ck    *checkpointer

	closeOnce sync.Once
	closeErr  error
}

// Open opens or creates the database at path, applies pending schema
// migrations and returns the store. Several Stores, in this process or
// others, may open the same file.
func Open(path string) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open mailbox store: unusable database path %q", path)
	}
	// As transpiled, SQLite syncs with fsync(2). fdatasync(2), which
	// SQLite's own builds use on Linux, writes a file's data and size just
	// the same, so a commit is as durable, and skips its timestamps: on
	// ext4 those go through the journal, whose commit, shared with
	// everything else the file system writes, was most of a commit's
	// wait. Process-wide; where there is no fdatasync, fsync stays.
	if _, err := sqlite.Fdatasync(true); err != nil && !errors.Is(err, sqlite.ErrFdatasyncUnavailable) {
		return nil, fmt.Errorf("open mailbox store: %w", err)
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
	n := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.Ping(); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open mailbox store %s: %w", path, err)
	}
	ck, err := newCheckpointer(path + "?" + common + "&_pragma=synchronous(FULL)")
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open mailbox store %s: %w", path, err)
	}
	g := newGroupWriter(sqlprep.New(w))
	st := sqlstore.New(w, r, sqlstore.Dialect{Snapshot: sql.TxOptions{ReadOnly: true}, Group: g.run})
	return &Store{Store: st, w: w, r: r, group: g, ck: ck}, nil
}

// Close lets the writer finish the writes queued already, then closes
// the database. Writes after Close fail; closing again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.group.close()
		s.closeErr = errors.Join(s.group.wq.Close(), s.ck.close(), s.Store.Close())
	})
	return s.closeErr
}

// Metrics returns the store's metrics, for the server's registry.
func (s *Store) Metrics() prometheus.Collector { return s.group.metrics }
