// Package migrate brings an SQL schema up to date: the one mechanism every
// SQL store of Casella uses (the mailbox stores, the directories), whatever
// the engine.
//
// Implementation notes:
//   - The version is the row of a one-column table, schema_version, read and
//     written in the same transaction as the steps it counts, so a crash
//     leaves the schema at one version or the next, never between.
//   - All pending steps run in one transaction. Engines whose DDL is
//     transactional (SQLite, PostgreSQL) roll a failed upgrade back whole.
//   - Several processes may start together against one database (nodes of
//     a cluster, the admin CLI beside a server): Schema.Lock is taken first
//     in the transaction, so one applies the steps and the others then
//     find the schema current.
//   - A database whose version is newer than the steps this binary knows is
//     refused, never read: a downgraded binary could misread it.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Schema is a list of steps and how to apply them.
type Schema struct {
	// Name says whose schema it is, for errors: "mailbox store".
	Name string
	// Steps are the schema changes in order: Steps[i] takes the schema
	// from version i to i+1. Append only: a released step is never
	// edited, because databases in the field have already run it.
	Steps []string
	// Lock, when set, runs first in the migration transaction and holds
	// off other processes until it ends: for PostgreSQL
	// "SELECT pg_advisory_xact_lock(n)". SQLite needs none when the
	// transaction begins IMMEDIATE.
	Lock string
	// Legacy, when set, is a query for the version of a database written
	// before it had a schema_version table (SQLite's PRAGMA user_version).
	Legacy string
	// Table names the table that holds the version; "" means
	// schema_version. A schema that shares its database with another
	// (the cluster's node register in the directory's database) keeps
	// its version apart.
	Table string
}

// table returns the name of the version table.
func (s Schema) table() string {
	if s.Table == "" {
		return "schema_version"
	}
	return s.Table
}

// Apply runs the steps the database lacks and returns the versions before
// and after.
func Apply(ctx context.Context, db *sql.DB, s Schema) (from, to int, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("%s schema: begin: %w", s.Name, err)
	}
	defer tx.Rollback()
	if s.Lock != "" {
		if _, err := tx.ExecContext(ctx, s.Lock); err != nil {
			return 0, 0, fmt.Errorf("%s schema: lock: %w", s.Name, err)
		}
	}
	from, err = current(ctx, tx, s)
	if err != nil {
		return 0, 0, err
	}
	if from > len(s.Steps) {
		return from, from, fmt.Errorf("%s schema version %d is newer than this casella knows (%d): run the newer casella that wrote it", s.Name, from, len(s.Steps))
	}
	if from == len(s.Steps) {
		return from, from, nil
	}
	for i := from; i < len(s.Steps); i++ {
		if _, err := tx.ExecContext(ctx, s.Steps[i]); err != nil {
			return from, i, fmt.Errorf("%s schema: migrate to version %d: %w", s.Name, i+1, err)
		}
	}
	// The version is an int of ours, so it can be written into the
	// statement; placeholders differ between engines.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET version = %d`, s.table(), len(s.Steps))); err != nil {
		return from, from, fmt.Errorf("%s schema: record version: %w", s.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return from, from, fmt.Errorf("%s schema: commit: %w", s.Name, err)
	}
	return from, len(s.Steps), nil
}

// current reads the version, creating schema_version when it is missing.
func current(ctx context.Context, tx *sql.Tx, s Schema) (int, error) {
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+s.table()+` (version INTEGER NOT NULL)`); err != nil {
		return 0, fmt.Errorf("%s schema: create %s: %w", s.Name, s.table(), err)
	}
	var v int
	err := tx.QueryRowContext(ctx, `SELECT version FROM `+s.table()).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%s schema: read version: %w", s.Name, err)
	}
	if s.Legacy != "" {
		if err := tx.QueryRowContext(ctx, s.Legacy).Scan(&v); err != nil {
			return 0, fmt.Errorf("%s schema: read legacy version: %w", s.Name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (version) VALUES (%d)`, s.table(), v)); err != nil {
		return 0, fmt.Errorf("%s schema: init %s: %w", s.Name, s.table(), err)
	}
	return v, nil
}
