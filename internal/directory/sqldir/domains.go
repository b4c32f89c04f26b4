package sqldir

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"casella/internal/directory"
)

// AddDomain adds a local domain.
func (d *Dir) AddDomain(ctx context.Context, name string) (directory.Domain, error) {
	n, err := directory.CanonicalDomain(name)
	if err != nil {
		return directory.Domain{}, fmt.Errorf("add domain: %w", err)
	}
	dom := directory.Domain{Name: n, Created: time.Unix(now(), 0)}
	err = d.write(ctx, func(tx *sql.Tx) error {
		if ok, err := domainExists(ctx, tx, n); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("domain %s: %w", n, directory.ErrExists)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO domains (name, created) VALUES ($1, $2)", n, dom.Created.Unix())
		return err
	})
	if err != nil {
		return directory.Domain{}, fmt.Errorf("add domain: %w", err)
	}
	return dom, nil
}

// RemoveDomain removes a domain that has no accounts or aliases left.
func (d *Dir) RemoveDomain(ctx context.Context, name string) error {
	n, err := directory.CanonicalDomain(name)
	if err != nil {
		return fmt.Errorf("remove domain: %w", err)
	}
	err = d.write(ctx, func(tx *sql.Tx) error {
		var accounts, aliases int
		err := tx.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM accounts WHERE domain = $1),
			(SELECT count(*) FROM (SELECT address FROM aliases WHERE domain = $1
				UNION SELECT address FROM alias_forwards WHERE domain = $1) l)`, n).Scan(&accounts, &aliases)
		if err != nil {
			return err
		}
		if accounts > 0 || aliases > 0 {
			return fmt.Errorf("domain %s has %d accounts and %d aliases: %w", n, accounts, aliases, directory.ErrInUse)
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM domains WHERE name = $1", n)
		if err != nil {
			return err
		}
		if k, err := res.RowsAffected(); err != nil {
			return err
		} else if k == 0 {
			return fmt.Errorf("domain %s: %w", n, directory.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove domain: %w", err)
	}
	return nil
}

// Domains returns the local domains, sorted by name.
func (d *Dir) Domains(ctx context.Context) ([]directory.Domain, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT d.name, coalesce(a.address, ''), d.created
		FROM domains d LEFT JOIN accounts a ON a.id = d.catchall ORDER BY d.name`)
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	defer rows.Close()
	var l []directory.Domain
	for rows.Next() {
		var dom directory.Domain
		var created int64
		if err := rows.Scan(&dom.Name, &dom.CatchAll, &created); err != nil {
			return nil, fmt.Errorf("list domains: %w", err)
		}
		dom.Created = time.Unix(created, 0)
		l = append(l, dom)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	return l, nil
}

// SetCatchAll makes an account receive mail for unknown local parts of
// domain; account "" removes the catch-all.
func (d *Dir) SetCatchAll(ctx context.Context, domain, account string) error {
	n, err := directory.CanonicalDomain(domain)
	if err != nil {
		return fmt.Errorf("set catch-all: %w", err)
	}
	var addr string
	if account != "" {
		if addr, err = directory.Canonical(account); err != nil {
			return fmt.Errorf("set catch-all: %w", err)
		}
	}
	err = d.write(ctx, func(tx *sql.Tx) error {
		if ok, err := domainExists(ctx, tx, n); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("domain %s: %w", n, directory.ErrNotFound)
		}
		var id sql.NullInt64
		if addr != "" {
			a, err := accountBy(ctx, tx, "address", addr)
			if err != nil {
				return err
			}
			id = sql.NullInt64{Int64: int64(a.ID), Valid: true}
		}
		_, err := tx.ExecContext(ctx, "UPDATE domains SET catchall = $1 WHERE name = $2", id, n)
		return err
	})
	if err != nil {
		return fmt.Errorf("set catch-all: %w", err)
	}
	return nil
}

// IsLocal reports whether domain is one of ours. A malformed domain is not.
func (d *Dir) IsLocal(ctx context.Context, domain string) (bool, error) {
	n, err := directory.CanonicalDomain(domain)
	if err != nil {
		return false, nil
	}
	ok, err := domainExists(ctx, d.db, n)
	if err != nil {
		return false, fmt.Errorf("is local %s: %w", n, err)
	}
	return ok, nil
}

func domainExists(ctx context.Context, q queryer, name string) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, "SELECT 1 FROM domains WHERE name = $1", name).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking up domain %s: %w", name, err)
	}
	return true, nil
}
