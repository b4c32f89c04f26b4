// Package sqlitedir implements the directory (package directory) on its
// own SQLite database file.
//
// Implementation notes:
//   - Several processes may open one file at once (the admin CLI beside a
//     running server). The database is in WAL mode with synchronous=FULL,
//     every write transaction starts IMMEDIATE so two writers never
//     deadlock upgrading read locks, and a busy timeout makes a writer wait
//     for another instead of failing.
//   - Account IDs come from an AUTOINCREMENT key and are never reused: the
//     mailbox store keys data by them, and a new account must never see a
//     removed account's mail.
//   - Every check that depends on other rows (a domain exists, an address
//     is not taken, an alias target is an account) runs in the same
//     transaction as the write it guards.
//   - Aliases and catch-alls refer to accounts by ID, so removing an
//     account removes it from them through foreign keys.
//   - Migrations are applied at Open by package migrate; never change a
//     step once released, add a new one.
package sqlitedir

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"casella/internal/directory"
	"casella/internal/migrate"
	"casella/internal/sqlprep"
)

// Dir is a directory stored in a SQLite file. It is safe for concurrent
// use, also by several processes on one file.
type Dir struct {
	db        *sql.DB
	q         *sqlprep.Cache // statements of the lookups every message makes
	passwords *directory.Verified
}

// Logins that passed are remembered for loginCacheTTL, up to
// loginCacheSize of them (see directory.Verified); a password changed
// with another process is seen at once, as it changes the stored hash.
const (
	loginCacheTTL  = 15 * time.Minute
	loginCacheSize = 100_000
)

var _ directory.Directory = (*Dir)(nil)

// Open opens the directory database at path, creating it if needed, and
// brings its schema up to date.
func Open(path string) (*Dir, error) {
	// The driver takes options after the first '?' of the name.
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open directory: unusable database path %q", path)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open directory %s: %w", path, err)
	}
	d := &Dir{db: db, q: sqlprep.New(db), passwords: directory.NewVerified(loginCacheTTL, loginCacheSize)}
	if err := d.migrate(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("open directory %s: %w", path, err)
	}
	return d, nil
}

// Close closes the database.
func (d *Dir) Close() error {
	return errors.Join(d.q.Close(), d.db.Close())
}

// steps are the schema changes, in order (see migrate.Schema.Steps).
var steps = []string{
	`CREATE TABLE domains (
		name TEXT PRIMARY KEY,
		catchall INTEGER REFERENCES accounts(id) ON DELETE SET NULL,
		created INTEGER NOT NULL
	);
	CREATE TABLE accounts (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		address TEXT NOT NULL UNIQUE,
		domain TEXT NOT NULL REFERENCES domains(name),
		password TEXT NOT NULL,
		quota INTEGER NOT NULL DEFAULT 0,
		cell TEXT NOT NULL DEFAULT '',
		created INTEGER NOT NULL
	);
	CREATE INDEX accounts_domain ON accounts(domain);
	CREATE TABLE aliases (
		address TEXT NOT NULL,
		domain TEXT NOT NULL REFERENCES domains(name),
		target INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
		PRIMARY KEY (address, target)
	);
	CREATE INDEX aliases_domain ON aliases(domain);
	CREATE INDEX aliases_target ON aliases(target);`,
	`CREATE TABLE account_locks (
		account INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
		since INTEGER NOT NULL,
		until INTEGER NOT NULL,
		failures INTEGER NOT NULL,
		source TEXT NOT NULL
	);`,
}

// migrate brings the schema up to date. Directories written before
// schema_version counted their version in PRAGMA user_version; the write
// connection begins its transactions IMMEDIATE, which holds off other
// processes.
func (d *Dir) migrate(ctx context.Context) error {
	_, _, err := migrate.Apply(ctx, d.db, migrate.Schema{Name: "directory", Steps: steps, Legacy: "PRAGMA user_version"})
	return err
}

// write runs fn in an immediate transaction and commits it if fn returns
// nil.
func (d *Dir) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
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
