package sqldir

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"casella/internal/directory"
)

// AddAlias makes mail for address go to the targets. A target in one of
// our domains must be an existing account: aliases never point to other
// aliases. A target elsewhere is an outside address the mail is forwarded
// to (package delivery's Forwarder).
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
			local, err := domainExists(ctx, tx, directory.DomainOf(t))
			if err != nil {
				return err
			}
			if !local {
				if _, err := tx.ExecContext(ctx, "INSERT INTO alias_forwards (address, domain, target_address) VALUES ($1, $2, $3)",
					addr, directory.DomainOf(addr), t); err != nil {
					return err
				}
				continue
			}
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
		var n int64
		for _, q := range []string{"DELETE FROM aliases WHERE address = $1", "DELETE FROM alias_forwards WHERE address = $1"} {
			res, err := tx.ExecContext(ctx, q, addr)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += k
		}
		if n == 0 {
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
// is "", sorted by address, with their targets, accounts and outside
// addresses, sorted.
func (d *Dir) Aliases(ctx context.Context, domain string) ([]directory.Alias, error) {
	query := `SELECT l.address, a.address FROM aliases l JOIN accounts a ON a.id = l.target
		UNION ALL SELECT address, target_address FROM alias_forwards
		ORDER BY 1, 2`
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
		query = `SELECT l.address, a.address FROM aliases l JOIN accounts a ON a.id = l.target WHERE l.domain = $1
			UNION ALL SELECT address, target_address FROM alias_forwards WHERE domain = $1
			ORDER BY 1, 2`
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
