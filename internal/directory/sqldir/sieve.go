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
	// The change log for JMAP (directory.SieveScripts): modseq is the
	// account's script state when the script last changed, one past the
	// highest of its scripts and tombstones, taken under the write lock so
	// that two changes never share one; created_modseq the state it was
	// created at. A deleted script leaves its id in sieve_destroyed.
	// Scripts from before the log have 0 in both, as if made at the
	// beginning.
	`ALTER TABLE sieve_scripts ADD COLUMN modseq BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE sieve_scripts ADD COLUMN created_modseq BIGINT NOT NULL DEFAULT 0;
	CREATE INDEX sieve_scripts_modseq ON sieve_scripts (account, modseq);
	CREATE TABLE sieve_destroyed (
		account BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
		id TEXT NOT NULL,
		modseq BIGINT NOT NULL,
		created_modseq BIGINT NOT NULL,
		PRIMARY KEY (account, id)
	);`,
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

// sieveLog is the change log of the scripts (their schema's step 4).
var sieveLog = newTombstoneLog("sieve script", "sieve_scripts", "created_modseq", "sieve_destroyed")

// PutSieveScript creates or replaces a script, keeping its id and
// whether it is active.
func (d *Dir) PutSieveScript(ctx context.Context, acct store.Account, name, source string) error {
	return d.recordWrite(ctx, acct, func(tx *sql.Tx) error {
		if err := accountExists(ctx, tx, acct); err != nil {
			return fmt.Errorf("put sieve script: %w", err)
		}
		m, err := sieveLog.Next(ctx, tx, acct)
		if err != nil {
			return fmt.Errorf("put sieve script %q: %w", name, err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO sieve_scripts (account, name, source, updated, id, modseq, created_modseq) VALUES ($1, $2, $3, $4, $5, $6, $6)
			ON CONFLICT (account, name) DO UPDATE SET source = excluded.source, updated = excluded.updated, modseq = excluded.modseq`,
			int64(acct), name, source, now(), newSieveID(), m)
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

// DeleteSieveScript removes a script that is not active, leaving its
// tombstone.
func (d *Dir) DeleteSieveScript(ctx context.Context, acct store.Account, name string) error {
	return d.recordWrite(ctx, acct, func(tx *sql.Tx) error {
		var active bool
		var id string
		var created int64
		err := tx.QueryRowContext(ctx, "SELECT active, id, created_modseq FROM sieve_scripts WHERE account = $1 AND name = $2", int64(acct), name).Scan(&active, &id, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("delete sieve script %q: %w", name, directory.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("delete sieve script %q: %w", name, err)
		}
		if active {
			return fmt.Errorf("delete sieve script %q: it is active: %w", name, directory.ErrInUse)
		}
		m, err := sieveLog.Next(ctx, tx, acct)
		if err != nil {
			return fmt.Errorf("delete sieve script %q: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM sieve_scripts WHERE account = $1 AND name = $2", int64(acct), name); err != nil {
			return fmt.Errorf("delete sieve script %q: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO sieve_destroyed (account, id, modseq, created_modseq) VALUES ($1, $2, $3, $4)",
			int64(acct), id, m, created); err != nil {
			return fmt.Errorf("delete sieve script %q: tombstone: %w", name, err)
		}
		return nil
	})
}

// RenameSieveScript renames a script, active or not.
func (d *Dir) RenameSieveScript(ctx context.Context, acct store.Account, from, to string) error {
	return d.recordWrite(ctx, acct, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM sieve_scripts WHERE account = $1 AND name = $2", int64(acct), to).Scan(&one)
		if err == nil {
			return fmt.Errorf("rename sieve script to %q: %w", to, directory.ErrExists)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("rename sieve script: %w", err)
		}
		m, err := sieveLog.Next(ctx, tx, acct)
		if err != nil {
			return fmt.Errorf("rename sieve script %q: %w", from, err)
		}
		res, err := tx.ExecContext(ctx, "UPDATE sieve_scripts SET name = $3, updated = $4, modseq = $5 WHERE account = $1 AND name = $2", int64(acct), from, to, now(), m)
		if err != nil {
			return fmt.Errorf("rename sieve script %q: %w", from, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("rename sieve script %q: %w", from, directory.ErrNotFound)
		}
		return nil
	})
}

// SetActiveSieveScript makes name the only active script, or none. Each
// script whose activity changes gets a modseq of its own, so that a
// client's maxChanges can cut between them; making the active script
// active again changes nothing.
func (d *Dir) SetActiveSieveScript(ctx context.Context, acct store.Account, name string) error {
	return d.recordWrite(ctx, acct, func(tx *sql.Tx) error {
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
		var cur string
		err := tx.QueryRowContext(ctx, "SELECT name FROM sieve_scripts WHERE account = $1 AND active", int64(acct)).Scan(&cur)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("activate sieve script %q: %w", name, err)
		}
		if cur == name {
			return errUnchanged
		}
		m, err := sieveLog.Next(ctx, tx, acct)
		if err != nil {
			return fmt.Errorf("activate sieve script %q: %w", name, err)
		}
		if cur != "" {
			if _, err := tx.ExecContext(ctx, "UPDATE sieve_scripts SET active = FALSE, modseq = $3 WHERE account = $1 AND name = $2", int64(acct), cur, m); err != nil {
				return fmt.Errorf("deactivate sieve script %q: %w", cur, err)
			}
			m++
		}
		if name == "" {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "UPDATE sieve_scripts SET active = TRUE, modseq = $3 WHERE account = $1 AND name = $2", int64(acct), name, m); err != nil {
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

// SieveState returns the account's script state.
func (d *Dir) SieveState(ctx context.Context, acct store.Account) (int64, error) {
	return sieveLog.State(ctx, d.db, acct)
}

// SieveChanges returns the scripts and tombstones changed after since.
func (d *Dir) SieveChanges(ctx context.Context, acct store.Account, since int64) ([]directory.Change, int64, error) {
	return sieveLog.Changes(ctx, d.db, acct, since)
}
