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
	err := d.write(ctx, func(tx *sql.Tx) error {
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
		_, err = tx.ExecContext(ctx, "INSERT INTO tokens (id, account, name, hash, created, expires) VALUES ($1, $2, $3, $4, $5, $6)",
			id, int64(acct), name, hex.EncodeToString(hash), t.Created.Unix(), unixOrZero(expires))
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
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM tokens WHERE account = $1 AND (id = $2 OR name = $2)", int64(acct), idOrName)
		if err != nil {
			return fmt.Errorf("revoke token %q: %w", idOrName, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("revoke token %q: %w", idOrName, directory.ErrNotFound)
		}
		return nil
	})
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
	var expires int64
	row := d.db.QueryRowContext(ctx, `SELECT a.id, a.address, a.quota, a.cell, a.created, t.hash, t.expires
		FROM tokens t JOIN accounts a ON a.id = t.account WHERE t.id = $1`, id)
	a, err = scanAccount(func(dest ...any) error { return row.Scan(append(dest, &hash, &expires)...) })
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
	// Outside the write lock: one row, and a lost update only makes the
	// last use look a minute older.
	if _, err := d.db.ExecContext(ctx, "UPDATE tokens SET last_used = $1 WHERE id = $2 AND last_used < $3", t, id, t-lastUsedGrain); err != nil {
		return a, false, fmt.Errorf("recording token use: %w", err)
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
