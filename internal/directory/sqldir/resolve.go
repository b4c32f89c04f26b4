package sqldir

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"casella/internal/directory"
)

// Resolve returns the accounts that receive mail for address. It tries, in
// order: an account with the exact address, an alias with it, then, for a
// subaddress user+tag (RFC 5233), the account or alias of user with the
// tag kept, and last the domain's catch-all.
func (d *Dir) Resolve(ctx context.Context, address string) ([]directory.Recipient, error) {
	addr, err := directory.Canonical(address)
	if err != nil {
		return nil, fmt.Errorf("resolve: %w", err)
	}
	dom := directory.DomainOf(addr)
	local := strings.TrimSuffix(addr, "@"+dom)
	// Every RCPT TO asks, nearly always for an account's own address: one
	// statement answers that, where the transaction below takes four. The
	// statements are prepared once.
	if a, err := d.account(ctx, addr); err == nil {
		return []directory.Recipient{{Account: a}}, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("resolve %s: %w", addr, err)
	}
	// One read transaction gives a consistent view of all lookups.
	tx, err := d.q.Begin(ctx, &d.readTx)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", addr, err)
	}
	defer tx.Rollback()

	var catchall sql.NullInt64
	err = tx.QueryRowContext(ctx, "SELECT catchall FROM domains WHERE name = $1", dom).Scan(&catchall)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("resolve %s: %w", addr, directory.ErrNotLocal)
	}
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", addr, err)
	}
	r, err := lookup(ctx, tx, addr, "")
	if err == nil && r == nil {
		if base, tag := directory.SplitSubaddress(local); base != local {
			r, err = lookup(ctx, tx, base+"@"+dom, tag)
		}
	}
	if err == nil && r == nil && catchall.Valid {
		var a directory.Account
		if a, err = accountBy(ctx, tx, "id", catchall.Int64); err == nil {
			r = []directory.Recipient{{Account: a}}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", addr, err)
	}
	if r == nil {
		return nil, fmt.Errorf("resolve %s: %w", addr, directory.ErrNoSuchUser)
	}
	return r, nil
}

// account returns the account with address addr in a domain that exists,
// or sql.ErrNoRows.
func (d *Dir) account(ctx context.Context, addr string) (directory.Account, error) {
	st, err := d.q.Stmt(ctx, "SELECT a.id, a.address, a.quota, a.cell, a.created FROM accounts a JOIN domains d ON d.name = a.domain WHERE a.address = $1")
	if err != nil {
		return directory.Account{}, err
	}
	return scanAccount(st.QueryRowContext(ctx, addr).Scan)
}

// lookup returns the recipients of an account or alias address, nil when
// it is neither.
func lookup(ctx context.Context, q queryer, addr, tag string) ([]directory.Recipient, error) {
	a, err := accountBy(ctx, q, "address", addr)
	if err == nil {
		return []directory.Recipient{{Account: a, Tag: tag}}, nil
	}
	if !errors.Is(err, directory.ErrNotFound) {
		return nil, err
	}
	targets, err := aliasTargets(ctx, q, addr)
	if err != nil {
		return nil, err
	}
	var r []directory.Recipient
	for _, t := range targets {
		r = append(r, directory.Recipient{Account: t, Tag: tag})
	}
	return r, nil
}

// Authenticate checks a login. An unknown or malformed address costs the
// same password hashing as a wrong password, so timing does not tell
// which addresses exist.
func (d *Dir) Authenticate(ctx context.Context, address, password string) (directory.Account, error) {
	hash := directory.DummyHash
	var a directory.Account
	found := false
	if addr, err := directory.Canonical(address); err == nil {
		row := d.db.QueryRowContext(ctx, "SELECT id, address, quota, cell, created, password FROM accounts WHERE address = $1", addr)
		a, err = scanAccount(func(dest ...any) error { return row.Scan(append(dest, &hash)...) })
		switch {
		case err == nil:
			found = true
		case errors.Is(err, sql.ErrNoRows):
			hash = directory.DummyHash
		default:
			return directory.Account{}, fmt.Errorf("authenticate: %w", err)
		}
	}
	if !d.passwords.Check(hash, password) || !found {
		return directory.Account{}, fmt.Errorf("authenticate: %w", directory.ErrBadCredentials)
	}
	return a, nil
}
