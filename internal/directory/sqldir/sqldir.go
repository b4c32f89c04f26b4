// Package sqldir implements the directory (package directory) on
// database/sql, once for every SQL engine: sqlitedir and the PostgreSQL
// directory give it a database and what differs between their engines (a
// Dialect), and share every query.
//
// Implementation notes:
//   - Queries number their placeholders ($1, $2): PostgreSQL needs that
//     form and the SQLite driver binds $N to the Nth argument, so one text
//     serves both. New rows return their key with RETURNING, which both
//     engines have, rather than LastInsertId, which PostgreSQL lacks.
//   - Account IDs are never reused: the mailbox store keys data by them,
//     and a new account must never see a removed account's mail. The
//     schema of each engine guarantees it (AUTOINCREMENT, an identity
//     column).
//   - Every check that depends on other rows (a domain exists, an address
//     is not taken, an alias target is an account) runs in the same
//     write transaction as the write it guards, and write transactions
//     take turns (Dialect.WriteLock), so two writers never both pass a
//     check that only one of them may pass.
//   - Aliases and catch-alls refer to accounts by ID, so removing an
//     account removes it from them through foreign keys.
//   - Text columns compare and sort bytewise in both engines, so lists come
//     out in the same order whatever the engine.
package sqldir

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"casella/internal/directory"
	"casella/internal/migrate"
	"casella/internal/sqlprep"
)

// Dialect is what differs between the engines.
type Dialect struct {
	// Schema creates and upgrades the tables. Its steps create domains,
	// accounts and aliases with the columns the queries of this package
	// name.
	Schema migrate.Schema
	// WriteLock, when set, runs first in every write transaction and
	// holds off other writers, also of other processes, until it ends:
	// for PostgreSQL "SELECT pg_advisory_xact_lock(n)". SQLite needs none
	// when transactions begin IMMEDIATE.
	WriteLock string
	// RecordNotify, when set, runs in every write transaction of an
	// account's Sieve scripts, app passwords or submissions with the
	// account's id ($1) as text, to tell the other processes on the
	// database: for PostgreSQL a pg_notify, which is delivered at commit;
	// their listeners call WakeRecords.
	RecordNotify string
}

// Dir is a directory in an SQL database. It is safe for concurrent use,
// also by several processes on one database.
type Dir struct {
	db        *sql.DB
	q         *sqlprep.Cache // statements of the lookups every message makes
	passwords *directory.Verified
	writeLock string
	// recordNotify and recordWatch tell of changes of the records kept
	// for JMAP: scripts, app passwords, submissions (watch.go).
	recordNotify string
	recordWatch  directory.Watchers
}

// Logins that passed are remembered for loginCacheTTL, up to
// loginCacheSize of them (see directory.Verified); a password changed
// with another process is seen at once, as it changes the stored hash.
const (
	loginCacheTTL  = 15 * time.Minute
	loginCacheSize = 100_000
)

var _ directory.Directory = (*Dir)(nil)

// Open brings the schema of db up to date and returns the directory in it.
// The directory owns db from then on: Open closes it when it fails, and
// Close closes it.
func Open(ctx context.Context, db *sql.DB, dl Dialect) (*Dir, error) {
	if _, _, err := migrate.Apply(ctx, db, dl.Schema); err != nil {
		db.Close()
		return nil, err
	}
	for _, sch := range []migrate.Schema{sieveSchema(dl), tokenSchema(dl), submissionSchema(dl), aliasForwardSchema(dl), certCacheSchema(dl)} {
		if _, _, err := migrate.Apply(ctx, db, sch); err != nil {
			db.Close()
			return nil, err
		}
	}
	if err := backfillSieveIDs(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return &Dir{
		db:           db,
		q:            sqlprep.New(db),
		passwords:    directory.NewVerified(loginCacheTTL, loginCacheSize),
		writeLock:    dl.WriteLock,
		recordNotify: dl.RecordNotify,
	}, nil
}

// Close closes the database.
func (d *Dir) Close() error {
	return errors.Join(d.q.Close(), d.db.Close())
}

// write runs fn in a write transaction and commits it if fn returns nil.
func (d *Dir) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if d.writeLock != "" {
		if _, err := tx.ExecContext(ctx, d.writeLock); err != nil {
			tx.Rollback()
			return fmt.Errorf("waiting for other writers: %w", err)
		}
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// queryer is what reads need: a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func now() int64 { return time.Now().Unix() }
