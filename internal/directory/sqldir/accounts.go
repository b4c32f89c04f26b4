package sqldir

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"casella/internal/directory"
	"casella/internal/store"
)

// AddAccount adds an account in a local domain with a password, a quota
// in bytes (0: no limit) and the cell that stores it.
func (d *Dir) AddAccount(ctx context.Context, address, password string, quota int64, cell string) (directory.Account, error) {
	addr, err := directory.Canonical(address)
	if err != nil {
		return directory.Account{}, fmt.Errorf("add account: %w", err)
	}
	if quota < 0 {
		return directory.Account{}, fmt.Errorf("add account %s: %w: negative quota", addr, directory.ErrInvalid)
	}
	if err := directory.CheckCell(cell); err != nil {
		return directory.Account{}, fmt.Errorf("add account %s: %w", addr, err)
	}
	hash, err := directory.HashPassword(password)
	if err != nil {
		return directory.Account{}, fmt.Errorf("add account %s: %w", addr, err)
	}
	a := directory.Account{Address: addr, Quota: quota, Cell: cell, Created: time.Unix(now(), 0)}
	err = d.write(ctx, func(tx *sql.Tx) error {
		if err := checkFree(ctx, tx, addr); err != nil {
			return err
		}
		// RETURNING rather than LastInsertId, which PostgreSQL lacks.
		return tx.QueryRowContext(ctx, `INSERT INTO accounts (address, domain, password, quota, cell, created)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, addr, directory.DomainOf(addr), hash, quota, cell, a.Created.Unix()).Scan(&a.ID)
	})
	if err != nil {
		return directory.Account{}, fmt.Errorf("add account %s: %w", addr, err)
	}
	return a, nil
}

// checkFree checks that addr is in a local domain and is neither an
// account nor an alias: the two share one namespace.
func checkFree(ctx context.Context, tx *sql.Tx, addr string) error {
	dom := directory.DomainOf(addr)
	if ok, err := domainExists(ctx, tx, dom); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("domain %s: %w", dom, directory.ErrNotLocal)
	}
	var kind string
	err := tx.QueryRowContext(ctx, `SELECT 'account' FROM accounts WHERE address = $1
		UNION ALL SELECT 'alias' FROM aliases WHERE address = $1
		UNION ALL SELECT 'alias' FROM alias_forwards WHERE address = $1 LIMIT 1`, addr).Scan(&kind)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("looking up %s: %w", addr, err)
	}
	return fmt.Errorf("%s %s: %w", kind, addr, directory.ErrExists)
}

// RemoveAccount removes an account, and removes it from the aliases and
// catch-alls that name it. Its mailbox data is the caller's to delete.
func (d *Dir) RemoveAccount(ctx context.Context, address string) (directory.Account, error) {
	addr, err := directory.Canonical(address)
	if err != nil {
		return directory.Account{}, fmt.Errorf("remove account: %w", err)
	}
	var a directory.Account
	err = d.write(ctx, func(tx *sql.Tx) error {
		if a, err = accountBy(ctx, tx, "address", addr); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM accounts WHERE id = $1", a.ID)
		return err
	})
	if err != nil {
		return directory.Account{}, fmt.Errorf("remove account: %w", err)
	}
	return a, nil
}

// Account returns the account with the given address. Aliases are not
// followed: use Resolve for that.
func (d *Dir) Account(ctx context.Context, address string) (directory.Account, error) {
	addr, err := directory.Canonical(address)
	if err != nil {
		return directory.Account{}, fmt.Errorf("account: %w", err)
	}
	a, err := accountBy(ctx, d.db, "address", addr)
	if err != nil {
		return directory.Account{}, fmt.Errorf("account: %w", err)
	}
	return a, nil
}

// AccountByID returns the account with the given ID.
func (d *Dir) AccountByID(ctx context.Context, id store.Account) (directory.Account, error) {
	a, err := accountBy(ctx, d.db, "id", int64(id))
	if err != nil {
		return directory.Account{}, fmt.Errorf("account: %w", err)
	}
	return a, nil
}

// Accounts returns the accounts of a domain, or of all domains when domain
// is "", sorted by address.
func (d *Dir) Accounts(ctx context.Context, domain string) ([]directory.Account, error) {
	query := "SELECT id, address, quota, cell, created FROM accounts ORDER BY address"
	var args []any
	if domain != "" {
		n, err := directory.CanonicalDomain(domain)
		if err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		if ok, err := domainExists(ctx, d.db, n); err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		} else if !ok {
			return nil, fmt.Errorf("list accounts: domain %s: %w", n, directory.ErrNotFound)
		}
		query = "SELECT id, address, quota, cell, created FROM accounts WHERE domain = $1 ORDER BY address"
		args = append(args, n)
	}
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	var l []directory.Account
	for rows.Next() {
		a, err := scanAccount(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		l = append(l, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return l, nil
}

// SetPassword replaces an account's password.
func (d *Dir) SetPassword(ctx context.Context, address, password string) error {
	addr, err := directory.Canonical(address)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	hash, err := directory.HashPassword(password)
	if err != nil {
		return fmt.Errorf("set password for %s: %w", addr, err)
	}
	if err := d.update(ctx, "UPDATE accounts SET password = $1 WHERE address = $2", hash, addr); err != nil {
		return fmt.Errorf("set password for %s: %w", addr, err)
	}
	return nil
}

// SetQuota sets an account's quota in bytes; 0 means no limit.
func (d *Dir) SetQuota(ctx context.Context, address string, quota int64) error {
	addr, err := directory.Canonical(address)
	if err != nil {
		return fmt.Errorf("set quota: %w", err)
	}
	if quota < 0 {
		return fmt.Errorf("set quota for %s: %w: negative quota", addr, directory.ErrInvalid)
	}
	if err := d.update(ctx, "UPDATE accounts SET quota = $1 WHERE address = $2", quota, addr); err != nil {
		return fmt.Errorf("set quota for %s: %w", addr, err)
	}
	return nil
}

// SetCell records the cell that stores an account.
func (d *Dir) SetCell(ctx context.Context, address, cell string) error {
	addr, err := directory.Canonical(address)
	if err != nil {
		return fmt.Errorf("set cell: %w", err)
	}
	if err := directory.CheckCell(cell); err != nil {
		return fmt.Errorf("set cell of %s: %w", addr, err)
	}
	if err := d.update(ctx, "UPDATE accounts SET cell = $1 WHERE address = $2", cell, addr); err != nil {
		return fmt.Errorf("set cell of %s: %w", addr, err)
	}
	return nil
}

// CellCounts returns the number of accounts in each cell that has any.
func (d *Dir) CellCounts(ctx context.Context) (map[string]int, error) {
	rows, err := d.db.QueryContext(ctx, "SELECT cell, count(*) FROM accounts GROUP BY cell")
	if err != nil {
		return nil, fmt.Errorf("count accounts per cell: %w", err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var cell string
		var n int
		if err := rows.Scan(&cell, &n); err != nil {
			return nil, fmt.Errorf("count accounts per cell: %w", err)
		}
		counts[cell] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count accounts per cell: %w", err)
	}
	return counts, nil
}

// update runs an UPDATE of one account and fails with ErrNotFound when it
// changed no row.
func (d *Dir) update(ctx context.Context, query string, args ...any) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("account: %w", directory.ErrNotFound)
		}
		return nil
	})
}

// accountBy looks up an account by "address" or "id".
func accountBy(ctx context.Context, q queryer, column string, value any) (directory.Account, error) {
	row := q.QueryRowContext(ctx, "SELECT id, address, quota, cell, created FROM accounts WHERE "+column+" = $1", value)
	a, err := scanAccount(row.Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("account %v: %w", value, directory.ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("looking up account %v: %w", value, err)
	}
	return a, nil
}

func scanAccount(scan func(...any) error) (directory.Account, error) {
	var a directory.Account
	var created int64
	err := scan(&a.ID, &a.Address, &a.Quota, &a.Cell, &created)
	a.Created = time.Unix(created, 0)
	return a, err
}
