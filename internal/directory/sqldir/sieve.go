package sqldir

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"casella/internal/directory"
	"casella/internal/migrate"
	"casella/internal/store"
)

// Sieve scripts live in the directory's database, beside the accounts
// they belong to, and are removed with them. They have their own schema
// version table, so that their steps never interleave with the
// directory's: the DDL is plain enough to be the same text for SQLite and
// PostgreSQL, and names sort in Go, bytewise, as the package notes want.
var sieveSteps = []string{
	`CREATE TABLE sieve_scripts (
		account BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
		name TEXT NOT NULL,
		source TEXT NOT NULL,
		active BOOLEAN NOT NULL DEFAULT FALSE,
		updated BIGINT NOT NULL,
		PRIMARY KEY (account, name)
	);
	CREATE UNIQUE INDEX sieve_scripts_active ON sieve_scripts (account) WHERE active;`,
	`CREATE TABLE sieve_records (
		account BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
		kind TEXT NOT NULL,
		key TEXT NOT NULL,
		owner TEXT NOT NULL,
		expires BIGINT NOT NULL,
		PRIMARY KEY (account, kind, key)
	);`,
	// A script's id outlives renames (JMAP Sieve, RFC 9661, over RFC 8620
	// section 1.2). Rows from before it get theirs from backfillSieveIDs,
	// in Go, as SQLite and PostgreSQL share no random text function.
	`ALTER TABLE sieve_scripts ADD COLUMN id TEXT;
	CREATE UNIQUE INDEX sieve_scripts_id ON sieve_scripts (account, id);`,
}

func sieveSchema(dl Dialect) migrate.Schema {
	return migrate.Schema{Name: "sieve scripts", Steps: sieveSteps, Lock: dl.Schema.Lock, Table: "sieve_schema_version"}
}

var _ directory.SieveScripts = (*Dir)(nil)

// newSieveID returns a fresh script id: "S" and 26 random base32
// characters, within RFC 8620 section 1.2's alphabet.
func newSieveID() string { return "S" + rand.Text() }

// backfillSieveIDs gives an id to each script stored before scripts had
// one; it is a no-op once all have.
func backfillSieveIDs(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "SELECT account, name FROM sieve_scripts WHERE id IS NULL")
	if err != nil {
		return fmt.Errorf("sieve script ids: %w", err)
	}
	type key struct {
		acct int64
		name string
	}
	var missing []key
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.acct, &k.name); err != nil {
			rows.Close()
			return fmt.Errorf("sieve script ids: %w", err)
		}
		missing = append(missing, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sieve script ids: %w", err)
	}
	for _, k := range missing {
		if _, err := db.ExecContext(ctx, "UPDATE sieve_scripts SET id = $1 WHERE account = $2 AND name = $3 AND id IS NULL", newSieveID(), k.acct, k.name); err != nil {
			return fmt.Errorf("sieve script id of %q: %w", k.name, err)
		}
	}
	return nil
}

// SieveScripts lists the account's scripts sorted by name.
func (d *Dir) SieveScripts(ctx context.Context, acct store.Account) ([]directory.SieveScript, error) {
	rows, err := d.db.QueryContext(ctx, "SELECT id, name, active FROM sieve_scripts WHERE account = $1", int64(acct))
	if err != nil {
		return nil, fmt.Errorf("sieve scripts: %w", err)
	}
	defer rows.Close()
	var out []directory.SieveScript
	for rows.Next() {
		var s directory.SieveScript
		if err := rows.Scan(&s.ID, &s.Name, &s.Active); err != nil {
			return nil, fmt.Errorf("sieve scripts: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sieve scripts: %w", err)
	}
	slices.SortFunc(out, func(a, b directory.SieveScript) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// SieveScript returns a script and its source.
func (d *Dir) SieveScript(ctx context.Context, acct store.Account, name string) (directory.SieveScript, string, error) {
	s := directory.SieveScript{Name: name}
	var src string
	err := d.db.QueryRowContext(ctx, "SELECT id, source, active FROM sieve_scripts WHERE account = $1 AND name = $2", int64(acct), name).Scan(&s.ID, &src, &s.Active)
	if errors.Is(err, sql.ErrNoRows) {
		return s, "", fmt.Errorf("sieve script %q: %w", name, directory.ErrNotFound)
	}
	if err != nil {
		return s, "", fmt.Errorf("sieve script %q: %w", name, err)
	}
	return s, src, nil
}

// PutSieveScript creates or replaces a script, keeping its id and
// whether it is active.
func (d *Dir) PutSieveScript(ctx context.Context, acct store.Account, name, source string) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		if err := accountExists(ctx, tx, acct); err != nil {
			return fmt.Errorf("put sieve script: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sieve_scripts (account, name, source, updated, id) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (account, name) DO UPDATE SET source = excluded.source, updated = excluded.updated`,
			int64(acct), name, source, now(), newSieveID())
		if err != nil {
			return fmt.Errorf("put sieve script %q: %w", name, err)
		}
		return nil
	})
}

func accountExists(ctx context.Context, tx *sql.Tx, acct store.Account) error {
	var one int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM accounts WHERE id = $1", int64(acct)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("account %d: %w", acct, directory.ErrNotFound)
	}
	return err
}

// DeleteSieveScript removes a script that is not active.
func (d *Dir) DeleteSieveScript(ctx context.Context, acct store.Account, name string) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		var active bool
		err := tx.QueryRowContext(ctx, "SELECT active FROM sieve_scripts WHERE account = $1 AND name = $2", int64(acct), name).Scan(&active)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("delete sieve script %q: %w", name, directory.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("delete sieve script %q: %w", name, err)
		}
		if active {
			return fmt.Errorf("delete sieve script %q: it is active: %w", name, directory.ErrInUse)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM sieve_scripts WHERE account = $1 AND name = $2", int64(acct), name); err != nil {
			return fmt.Errorf("delete sieve script %q: %w", name, err)
		}
		return nil
	})
}

// RenameSieveScript renames a script, active or not.
func (d *Dir) RenameSieveScript(ctx context.Context, acct store.Account, from, to string) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM sieve_scripts WHERE account = $1 AND name = $2", int64(acct), to).Scan(&one)
		if err == nil {
			return fmt.Errorf("rename sieve script to %q: %w", to, directory.ErrExists)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("rename sieve script: %w", err)
		}
		res, err := tx.ExecContext(ctx, "UPDATE sieve_scripts SET name = $3, updated = $4 WHERE account = $1 AND name = $2", int64(acct), from, to, now())
		if err != nil {
			return fmt.Errorf("rename sieve script %q: %w", from, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("rename sieve script %q: %w", from, directory.ErrNotFound)
		}
		return nil
	})
}

// SetActiveSieveScript makes name the only active script, or none.
func (d *Dir) SetActiveSieveScript(ctx context.Context, acct store.Account, name string) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		if name != "" {
			var one int
			err := tx.QueryRowContext(ctx, "SELECT 1 FROM sieve_scripts WHERE account = $1 AND name = $2", int64(acct), name).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("activate sieve script %q: %w", name, directory.ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("activate sieve script %q: %w", name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE sieve_scripts SET active = FALSE WHERE account = $1 AND active", int64(acct)); err != nil {
			return fmt.Errorf("deactivate sieve scripts: %w", err)
		}
		if name == "" {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "UPDATE sieve_scripts SET active = TRUE WHERE account = $1 AND name = $2", int64(acct), name); err != nil {
			return fmt.Errorf("activate sieve script %q: %w", name, err)
		}
		return nil
	})
}

// ActiveSieveScript returns the active script's name and source.
func (d *Dir) ActiveSieveScript(ctx context.Context, acct store.Account) (string, string, error) {
	var name, src string
	err := d.db.QueryRowContext(ctx, "SELECT name, source FROM sieve_scripts WHERE account = $1 AND active", int64(acct)).Scan(&name, &src)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("active sieve script: %w", directory.ErrNotFound)
	}
	if err != nil {
		return "", "", fmt.Errorf("active sieve script: %w", err)
	}
	return name, src, nil
}
