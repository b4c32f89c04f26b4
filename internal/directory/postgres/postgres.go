// Package postgres implements the directory (package directory) on a
// PostgreSQL database, with the queries of package sqldir, so that the
// nodes of a cluster share one directory.
//
// Implementation notes:
//   - The connection goes through pgx's database/sql driver. It pings a
//     pooled connection idle for over a second before reusing it, so
//     after a server restart dead connections are dropped, not handed to
//     a query.
//   - Every failure to reach the server is returned as a plain error,
//     never as ErrNoSuchUser, ErrNotLocal, ErrInvalid or
//     ErrBadCredentials: callers answer it with a temporary failure (SMTP
//     4xx), so mail is retried, never bounced, while the directory is
//     down.
//   - Several nodes start together against one database: the schema is
//     migrated under an advisory lock, so one of them applies the steps.
//     Write transactions take another advisory lock, which makes writers
//     of all nodes take turns as SQLite's IMMEDIATE transactions do:
//     the checks a write depends on (an address is free) then stay true
//     until it commits. Directory writes are administration, rare enough
//     that turns cost nothing.
//   - Text columns use the "C" collation: addresses compare and sort
//     bytewise, as in SQLite, whatever the database's locale.
//   - Migrations are applied at Open by package migrate; never change a
//     step once released, add a new one.
package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"casella/internal/directory"
	"casella/internal/directory/sqldir"
	"casella/internal/migrate"
	"casella/internal/pglisten"
)

// Dir is a directory in a PostgreSQL database. It is safe for concurrent
// use, also by several processes on one database.
type Dir struct {
	*sqldir.Dir
	l *pglisten.Listener // other nodes' changes of Sieve scripts (listen.go)
}

var _ directory.Directory = (*Dir)(nil)

// Advisory lock keys (pg_advisory_xact_lock) live in one namespace per
// database, shared with anything else that uses the database: "casdir" in
// ASCII, then 1 for the schema and 2 for writes. The mailbox store, which
// may share the database, uses keys of its own.
const (
	schemaLock = 0x636173646972_01
	writeLock  = 0x636173646972_02
)

// steps are the schema changes, in order (see migrate.Schema.Steps).
var steps = []string{
	`CREATE TABLE domains (
		name TEXT COLLATE "C" PRIMARY KEY,
		catchall BIGINT,
		created BIGINT NOT NULL
	);
	CREATE TABLE accounts (
		id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		address TEXT COLLATE "C" NOT NULL UNIQUE,
		domain TEXT COLLATE "C" NOT NULL REFERENCES domains(name),
		password TEXT NOT NULL,
		quota BIGINT NOT NULL DEFAULT 0,
		cell TEXT COLLATE "C" NOT NULL DEFAULT '',
		created BIGINT NOT NULL
	);
	ALTER TABLE domains ADD FOREIGN KEY (catchall) REFERENCES accounts(id) ON DELETE SET NULL;
	CREATE INDEX accounts_domain ON accounts(domain);
	CREATE INDEX accounts_cell ON accounts(cell);
	CREATE TABLE aliases (
		address TEXT COLLATE "C" NOT NULL,
		domain TEXT COLLATE "C" NOT NULL REFERENCES domains(name),
		target BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
		PRIMARY KEY (address, target)
	);
	CREATE INDEX aliases_domain ON aliases(domain);
	CREATE INDEX aliases_target ON aliases(target);`,
	// Accounts locked after failed logins (package limit).
	`CREATE TABLE account_locks (
		account BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
		locked_since BIGINT NOT NULL,
		locked_until BIGINT NOT NULL,
		failures INTEGER NOT NULL,
		source TEXT NOT NULL
	);`,
}

// dialect is PostgreSQL's.
var dialect = sqldir.Dialect{
	Schema: migrate.Schema{
		Name:  "directory",
		Steps: steps,
		Lock:  fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", schemaLock),
	},
	WriteLock:    fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", writeLock),
	RecordNotify: "SELECT pg_notify('" + sieveChannel + "', $1)",
}

// Pool limits. Every node keeps its own pool, and PostgreSQL allows 100
// connections by default, shared by all nodes and the mailbox stores.
// The directory's queries are short, so a few connections serve many
// sessions.
const (
	maxConns    = 16
	maxIdleTime = 5 * time.Minute
	// connectTimeout applies when the DSN gives no connect_timeout: an
	// unreachable server must fail a lookup, not hold an SMTP session.
	connectTimeout = 5 * time.Second
)

// Open connects to the PostgreSQL database of dsn (a URL or key=value
// string, as libpq takes) and brings its schema up to date. ctx bounds
// the connection and the migration.
func Open(ctx context.Context, dsn string) (*Dir, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx leaves the password out of its message.
		return nil, fmt.Errorf("open directory: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	where := fmt.Sprintf("database %s on %s:%d", cfg.Database, cfg.Host, cfg.Port)
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(maxIdleTime)
	d, err := sqldir.Open(ctx, db, dialect)
	if err != nil {
		return nil, fmt.Errorf("open directory (%s): %w", where, err)
	}
	lcfg := cfg.Copy()
	lcfg.RuntimeParams["application_name"] = cfg.RuntimeParams["application_name"] + "-listen"
	l, err := listen(ctx, lcfg, d, slog.Default().With("component", "directory"))
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("open directory (%s): listening for changes: %w", where, err)
	}
	return &Dir{Dir: d, l: l}, nil
}

// Close stops listening and closes the database.
func (d *Dir) Close() error {
	d.l.Close()
	return d.Dir.Close()
}
