package sqldir

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"casella/internal/directory"
)

// resolveQuery finds, in one statement, every way an address may receive
// mail: $1 is the address, $2 the address without its subaddress tag (""
// when it has none) and $3 its domain. Each row says by its rank k which
// way it was found, in the order Resolve tries them: 1 an account with the
// exact address, 2 an alias with it, 3 and 4 the same for the address
// without its tag, 5 the domain's catch-all. A row of rank 0 says the
// domain is ours. One statement sees one state of the directory in every
// engine, with no transaction, and costs PostgreSQL one round trip where
// a lookup per way would cost seven for an unknown address, the answer to
// much of an MX's spam. An alias's outside targets come as rows of rank 2
// or 4 with account id 0 and the outside address.
const resolveQuery = `SELECT 0, 0, '', 0, '', 0 FROM domains WHERE name = $3
	UNION ALL
	SELECT r.k, a.id, a.address, a.quota, a.cell, a.created FROM (
		SELECT 1 AS k, id AS target FROM accounts WHERE address = $1
		UNION ALL SELECT 2, target FROM aliases WHERE address = $1
		UNION ALL SELECT 3, id FROM accounts WHERE address = $2
		UNION ALL SELECT 4, target FROM aliases WHERE address = $2
		UNION ALL SELECT 5, catchall FROM domains WHERE name = $3 AND catchall IS NOT NULL
	) r JOIN accounts a ON a.id = r.target
	UNION ALL SELECT 2, 0, target_address, 0, '', 0 FROM alias_forwards WHERE address = $1
	UNION ALL SELECT 4, 0, target_address, 0, '', 0 FROM alias_forwards WHERE address = $2`

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
	var baseAddr string
	base, tag := directory.SplitSubaddress(local)
	if base != local {
		baseAddr = base + "@" + dom
	}
	st, err := d.q.Stmt(ctx, resolveQuery)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", addr, err)
	}
	rows, err := st.QueryContext(ctx, addr, baseAddr, dom)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", addr, err)
	}
	defer rows.Close()
	best, ours := 0, false
	var r []directory.Recipient
	for rows.Next() {
		var k int
		a, err := scanAccount(func(dest ...any) error { return rows.Scan(append([]any{&k}, dest...)...) })
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", addr, err)
		}
		switch {
		case k == 0:
			ours = true
		case best == 0 || k < best:
			best, r = k, nil
			fallthrough
		case k == best:
			rc := directory.Recipient{Account: a}
			switch {
			case a.ID == 0:
				rc = directory.Recipient{Forward: a.Address}
			case k == 3 || k == 4:
				rc.Tag = tag
			}
			r = append(r, rc)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("resolve %s: %w", addr, err)
	}
	if !ours {
		return nil, fmt.Errorf("resolve %s: %w", addr, directory.ErrNotLocal)
	}
	if r == nil {
		return nil, fmt.Errorf("resolve %s: %w", addr, directory.ErrNoSuchUser)
	}
	slices.SortFunc(r, func(x, y directory.Recipient) int {
		return strings.Compare(x.Account.Address+x.Forward, y.Account.Address+y.Forward)
	})
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
	// An app password (directory.Tokens) logs in to its own account only.
	// Anything else, also a token that fails, is checked as a password,
	// so that a password shaped like a token still works and a failure
	// takes as long either way.
	if ta, ok, err := d.tokenAccount(ctx, password); err != nil {
		return directory.Account{}, fmt.Errorf("authenticate: %w", err)
	} else if ok && found && ta.ID == a.ID {
		return ta, nil
	}
	if !d.passwords.Check(hash, password) || !found {
		return directory.Account{}, fmt.Errorf("authenticate: %w", directory.ErrBadCredentials)
	}
	return a, nil
}
