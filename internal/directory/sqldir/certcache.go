package sqldir

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/crypto/acme/autocert"

	"casella/internal/directory"
	"casella/internal/migrate"
)

// The ACME cache lives in a table of its own, with its own schema version
// table like the Sieve scripts. Values are base64 so that one DDL text
// serves both engines. They include private keys: the database's access
// control is theirs, as it is the password hashes'.
var certCacheSteps = []string{
	`CREATE TABLE acme_cache (
		name TEXT PRIMARY KEY,
		data TEXT NOT NULL,
		updated BIGINT NOT NULL
	);`,
}

func certCacheSchema(dl Dialect) migrate.Schema {
	return migrate.Schema{Name: "acme cache", Steps: certCacheSteps, Lock: dl.Schema.Lock, Table: "acme_cache_schema_version"}
}

var _ directory.CertCaches = (*Dir)(nil)

// CertCache returns the ACME cache in the directory's database.
func (d *Dir) CertCache() autocert.Cache { return certCache{d} }

type certCache struct{ d *Dir }

// Get returns the value of key, or autocert.ErrCacheMiss.
func (c certCache) Get(ctx context.Context, key string) ([]byte, error) {
	var enc string
	err := c.d.db.QueryRowContext(ctx, "SELECT data FROM acme_cache WHERE name = $1", key).Scan(&enc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, autocert.ErrCacheMiss
	}
	if err != nil {
		return nil, fmt.Errorf("acme cache %s: %w", key, err)
	}
	data, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("acme cache %s: %w", key, err)
	}
	return data, nil
}

// Put sets the value of key.
func (c certCache) Put(ctx context.Context, key string, data []byte) error {
	return c.d.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO acme_cache (name, data, updated) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET data = excluded.data, updated = excluded.updated`,
			key, base64.StdEncoding.EncodeToString(data), now())
		if err != nil {
			return fmt.Errorf("acme cache %s: %w", key, err)
		}
		return nil
	})
}

// Delete removes key; a missing key is no error.
func (c certCache) Delete(ctx context.Context, key string) error {
	return c.d.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM acme_cache WHERE name = $1", key); err != nil {
			return fmt.Errorf("acme cache %s: %w", key, err)
		}
		return nil
	})
}
