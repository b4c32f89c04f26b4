// Package sqlitedir implements the directory (package directory) on its
// own SQLite database file, with the queries of package sqldir.
//
// Implementation notes:
//   - Several processes may open one file at once (the admin CLI beside a
//     running server). The database is in WAL mode with synchronous=FULL,
//     every write transaction starts IMMEDIATE so two writers never
//     deadlock upgrading read locks and take turns, and a busy timeout
//     makes a writer wait for another instead of failing.
//   - Migrations are applied at Open by package migrate; never change a
//     step once released, add a new one.
package sqlitedir

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"casella/internal/directory"
	"casella/internal/directory/sqldir"
	"casella/internal/migrate"
)

// Dir is a directory stored in a SQLite file. It is safe for concurrent
// use, also by several processes on one file.
type Dir struct {
	*sqldir.Dir
}

var _ directory.Directory = (*Dir)(nil)

// steps are the schema changes, in order (see migrate.Schema.Steps).
// SQLite's TEXT compares bytewise (BINARY) unless told otherwise, as
// package sqldir expects.
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
	// Accounts locked after failed logins (package limit).
	`CREATE TABLE account_locks (
		account INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
		locked_since INTEGER NOT NULL,
		locked_until INTEGER NOT NULL,
		failures INTEGER NOT NULL,
		source TEXT NOT NULL
	);`,
}

// dialect is SQLite's. Directories written before schema_version counted
// their version in PRAGMA user_version. The connections begin their
// transactions IMMEDIATE (see Open), which holds off other processes both
// for the migration and for every write.
var dialect = sqldir.Dialect{
	Schema: migrate.Schema{Name: "directory", Steps: steps, Legacy: "PRAGMA user_version"},
}

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
	d, err := sqldir.Open(context.Background(), db, dialect)
	if err != nil {
		return nil, fmt.Errorf("open directory %s: %w", path, err)
	}
	return &Dir{d}, nil
}
