package sqldir

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"casella/internal/directory"
	"casella/internal/migrate"
	"casella/internal/store"
)

// App passwords live beside their accounts and go with them, with their
// own schema version table like the Sieve scripts. Only the SHA-256 of a
// token is stored (directory.HashToken says why a fast hash is right),
// hex-encoded so that one DDL text serves both engines. Times are Unix
// seconds; 0 is "never".
var tokenSteps = []string{
	`CREATE TABLE tokens (
		id TEXT PRIMARY KEY,
		account BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
		name TEXT NOT NULL,
		hash TEXT NOT NULL,
		created BIGINT NOT NULL,
		last_used BIGINT NOT NULL DEFAULT 0,
		expires BIGINT NOT NULL DEFAULT 0,
		UNIQUE (account, name)
	);`,
	// The change log for JMAP's AppPassword (directory.Tokens), as the
	// Sieve scripts': modseq is the account's token state when the token
	// was made, one past the highest of its tokens and tombstones, taken
	// under the write lock; a revoked token leaves its id in
	// tokens_destroyed. A token's use is not a change of it. Tokens from
	// before the log have 0, as if made at the beginning.
	`ALTER TABLE tokens ADD COLUMN modseq BIGINT NOT NULL DEFAULT 0;
	CREATE INDEX tokens_account_modseq ON tokens (account, modseq);
	CREATE TABLE tokens_destroyed (
		account BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
		id TEXT NOT NULL,
		modseq BIGINT NOT NULL,
		created_modseq BIGINT NOT NULL,
		PRIMARY KEY (account, id)
	);`,
}

func tokenSchema(dl Dialect) migrate.Schema {
	return migrate.Schema{Name: "app passwords", Steps: tokenSteps, Lock: dl.Schema.Lock, Table: "token_schema_version"}
}

var _ directory.Tokens = (*Dir)(nil)

// lastUsedGrain is how stale a token's last use may be: a client that
// logs in every few seconds updates the row once a minute, not each time.
const lastUsedGrain = 60 // seconds

// AddToken makes an app password for the account; name "" names it by
// its id.
func (d *Dir) AddToken(ctx context.Context, acct store.Account, name string, expires time.Time) (directory.Token, string, error) {
	id, secret, hash := directory.NewToken()
	if name == "" {
		name = id
	}
	if err := directory.CheckTokenName(name); err != nil {
		return directory.Token{}, "", fmt.Errorf("add token: %w", err)
	}
	t := directory.Token{ID: id, Name: name, Created: time.Unix(now(), 0), Expires: expires}
	if !expires.IsZero() && !expires.After(t.Created) {
		return directory.Token{}, "", fmt.Errorf("add token: %w: expiry %s is not in the future", directory.ErrInvalid, expires.UTC().Format(time.RFC3339))
	}
	err := d.recordWrite(ctx, acct, func(tx *sql.Tx) error {
		if err := accountExists(ctx, tx, acct); err != nil {
			return err
		}
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM tokens WHERE account = $1 AND name = $2", int64(acct), name).Scan(&one)
		if err == nil {
			return fmt.Errorf("token %q: %w", name, directory.ErrExists)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		m, err := tokenLog.Next(ctx, tx, acct)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO tokens (id, account, name, hash, created, expires, modseq) VALUES ($1, $2, $3, $4, $5, $6, $7)",
			id, int64(acct), name, hex.EncodeToString(hash), t.Created.Unix(), unixOrZero(expires), m)
		return err
	})
	if err != nil {
		return directory.Token{}, "", fmt.Errorf("add token: %w", err)
	}
	return t, secret, nil
}

// Tokens lists the account's app passwords, oldest first.
func (d *Dir) Tokens(ctx context.Context, acct store.Account) ([]directory.Token, error) {
	rows, err := d.db.QueryContext(ctx, "SELECT id, name, created, last_used, expires FROM tokens WHERE account = $1 ORDER BY created, id", int64(acct))
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []directory.Token
	for rows.Next() {
		var t directory.Token
		var created, used, expires int64
		if err := rows.Scan(&t.ID, &t.Name, &created, &used, &expires); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		t.Created, t.LastUsed, t.Expires = time.Unix(created, 0), timeOrZero(used), timeOrZero(expires)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken deletes the account's token with this id or name. No cache
// holds tokens, so the next login with it fails.
func (d *Dir) RevokeToken(ctx context.Context, acct store.Account, idOrName string) error {
	return d.recordWrite(ctx, acct, func(tx *sql.Tx) error {
		var id string
		var created int64
		// By id first: a name shaped like another token's id names that
		// one only when no token has it as its id.
		err := tx.QueryRowContext(ctx, "SELECT id, modseq FROM tokens WHERE account = $1 AND (id = $2 OR name = $2) ORDER BY id = $2 DESC LIMIT 1",
			int64(acct), idOrName).Scan(&id, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("revoke token %q: %w", idOrName, directory.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("revoke token %q: %w", idOrName, err)
		}
		m, err := tokenLog.Next(ctx, tx, acct)
		if err != nil {
			return fmt.Errorf("revoke token %q: %w", idOrName, err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM tokens WHERE id = $1", id); err != nil {
			return fmt.Errorf("revoke token %q: %w", idOrName, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO tokens_destroyed (account, id, modseq, created_modseq) VALUES ($1, $2, $3, $4)",
			int64(acct), id, m, created); err != nil {
			return fmt.Errorf("revoke token %q: tombstone: %w", idOrName, err)
		}
		return nil
	})
}

// tokenLog is the change log of the tokens (their schema's step 2). A
// token is never changed after its creation, so its modseq is its
// creation's.
var tokenLog = newTombstoneLog("token", "tokens", "modseq", "tokens_destroyed")

// TokenState returns the account's token state.
func (d *Dir) TokenState(ctx context.Context, acct store.Account) (int64, error) {
	return tokenLog.State(ctx, d.db, acct)
}

// TokenChanges returns the tokens and tombstones changed after since.
func (d *Dir) TokenChanges(ctx context.Context, acct store.Account, since int64) ([]directory.Change, int64, error) {
	return tokenLog.Changes(ctx, d.db, acct, since)
}

// AuthenticateToken returns the account a token logs in to.
func (d *Dir) AuthenticateToken(ctx context.Context, secret string) (directory.Account, error) {
	a, ok, err := d.tokenAccount(ctx, secret)
	if err != nil {
		return directory.Account{}, fmt.Errorf("authenticate: %w", err)
	}
	if !ok {
		return directory.Account{}, fmt.Errorf("authenticate: %w", directory.ErrBadCredentials)
	}
	return a, nil
}

// tokenAccount looks a token up by its public id and checks its hash and
// expiry; ok is false for anything but a valid token.
func (d *Dir) tokenAccount(ctx context.Context, secret string) (a directory.Account, ok bool, err error) {
	id, ok := directory.ParseToken(secret)
	if !ok {
		return a, false, nil
	}
	var hash string
	var expires, used int64
	row := d.db.QueryRowContext(ctx, `SELECT a.id, a.address, a.quota, a.cell, a.created, t.hash, t.expires, t.last_used
		FROM tokens t JOIN accounts a ON a.id = t.account WHERE t.id = $1`, id)
	a, err = scanAccount(func(dest ...any) error { return row.Scan(append(dest, &hash, &expires, &used)...) })
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("looking up token: %w", err)
	}
	want, err := hex.DecodeString(hash)
	if err != nil || subtle.ConstantTimeCompare(want, directory.HashToken(secret)) != 1 {
		return a, false, nil
	}
	t := now()
	if expires != 0 && t >= expires {
		return a, false, nil
	}
	// A write only when the last use recorded is stale: most logins
	// then only read. Outside the write lock: one row, and a lost
	// update only makes the last use look a minute older.
	if used < t-lastUsedGrain {
		if _, err := d.db.ExecContext(ctx, "UPDATE tokens SET last_used = $1 WHERE id = $2 AND last_used < $3", t, id, t-lastUsedGrain); err != nil {
			return a, false, fmt.Errorf("recording token use: %w", err)
		}
	}
	return a, true, nil
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func timeOrZero(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0)
}
