package sqldir

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"casella/internal/directory"
)

// AddAlias makes mail for address go to the target accounts. Every target
// must be an existing account: aliases never point to other aliases.
func (d *Dir) AddAlias(ctx context.Context, address string, targets []string) error {
	addr, err := directory.Canonical(address)
	if err != nil {
		return fmt.Errorf("add alias: %w", err)
	}
	if len(targets) == 0 {
		return fmt.Errorf("add alias %s: %w: no targets", addr, directory.ErrInvalid)
	}
	var canon []string
	for _, t := range targets {
		c, err := directory.Canonical(t)
		if err != nil {
			return fmt.Errorf("add alias %s: target: %w", addr, err)
		}
		if !slices.Contains(canon, c) {
			canon = append(canon, c)
		}
	}
	err = d.write(ctx, func(tx *sql.Tx) error {
		if err := checkFree(ctx, tx, addr); err != nil {
			return err
		}
		for _, t := range canon {
			a, err := accountBy(ctx, tx, "address", t)
			if err != nil {
				return fmt.Errorf("target %s must be an account: %w", t, err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO aliases (address, domain, target) VALUES ($1, $2, $3)",
				addr, directory.DomainOf(addr), a.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add alias %s: %w", addr, err)
	}
	return nil
}

// RemoveAlias removes an alias.
func (d *Dir) RemoveAlias(ctx context.Context, address string) error {
	addr, err := directory.Canonical(address)
	if err != nil {
		return fmt.Errorf("remove alias: %w", err)
	}
	err = d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM aliases WHERE address = $1", addr)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("alias %s: %w", addr, directory.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove alias: %w", err)
	}
	return nil
}

// Aliases returns the aliases of a domain, or of all domains when domain
// is "", sorted by address, with their targets sorted.
func (d *Dir) Aliases(ctx context.Context, domain string) ([]directory.Alias, error) {
	query := `SELECT l.address, a.address FROM aliases l JOIN accounts a ON a.id = l.target
		ORDER BY l.address, a.address`
	var args []any
	if domain != "" {
		n, err := directory.CanonicalDomain(domain)
		if err != nil {
			return nil, fmt.Errorf("list aliases: %w", err)
		}
		if ok, err := domainExists(ctx, d.db, n); err != nil {
			return nil, fmt.Errorf("list aliases: %w", err)
		} else if !ok {
			return nil, fmt.Errorf("list aliases: domain %s: %w", n, directory.ErrNotFound)
		}
		query = `SELECT l.address, a.address FROM aliases l JOIN accounts a ON a.id = l.target
			WHERE l.domain = $1 ORDER BY l.address, a.address`
		args = append(args, n)
	}
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list aliases: %w", err)
	}
	defer rows.Close()
	var l []directory.Alias
	for rows.Next() {
		var addr, target string
		if err := rows.Scan(&addr, &target); err != nil {
			return nil, fmt.Errorf("list aliases: %w", err)
		}
		if len(l) == 0 || l[len(l)-1].Address != addr {
			l = append(l, directory.Alias{Address: addr})
		}
		l[len(l)-1].Targets = append(l[len(l)-1].Targets, target)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list aliases: %w", err)
	}
	return l, nil
}
