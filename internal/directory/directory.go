// Package directory holds who receives mail here: domains, accounts with
// their credentials and quotas, aliases, catch-alls, and which cell stores
// each account.
//
// Implementation notes:
//   - Addresses are compared in their canonical form: the domain lower-cased
//     ASCII (internationalised domains in their A-label form), the local
//     part lower-cased, so compared without regard to case. Canonical
//     renders the form every implementation stores.
//   - Aliases point to accounts or to outside addresses (in no local
//     domain), never to other aliases, so resolution needs no loop
//     detection; AddAlias rejects local targets that are not accounts. Removing an account removes it from the aliases and
//     catch-alls that name it, and removes aliases left without targets.
//   - Account and alias addresses share one namespace and must be in a
//     local domain.
//   - Passwords are stored only as argon2id hashes (PHC string format),
//     app passwords (Tokens) only as SHA-256 hashes (HashToken says why).
//   - Recipient resolution (Resolve) reads only the directory, never the
//     mailbox store, so intake keeps accepting mail while the store is
//     down (DESIGN.md invariants 2 and 3).
//   - Every implementation passes the conformance suite in directorytest.
package directory

import (
	"context"
	"errors"
	"time"

	"casella/internal/store"
)

// Errors returned by directories; implementations wrap them with context.
var (
	ErrNoSuchUser     = errors.New("no such user")        // a permanent condition: 550 5.1.1
	ErrNotLocal       = errors.New("domain is not local") // relaying: 550 5.7.1 unless authenticated
	ErrBadCredentials = errors.New("invalid credentials") // wrong address or password
	ErrExists         = errors.New("already exists")
	ErrNotFound       = errors.New("not found")
	ErrInvalid        = errors.New("invalid address or name")
	ErrInUse          = errors.New("still in use") // e.g. removing a domain that has accounts
)

// Domain is a domain whose mail this server receives.
type Domain struct {
	Name     string // canonical
	CatchAll string // address of the account that receives mail for unknown local parts, or ""
	Created  time.Time
}

// Account is a mailbox owner; the address is also the login.
type Account struct {
	ID      store.Account
	Address string // canonical
	Quota   int64  // bytes; 0 means no limit
	Cell    string // cell that stores the account; "" in embedded mode
	Created time.Time
}

// Alias sends mail for one address to one or more accounts, or on to
// outside addresses.
type Alias struct {
	Address string   // canonical
	Targets []string // account addresses and outside addresses
}

// Lock is an account locked out of password logins after repeated failures
// (package limit decides when); the directory only keeps it, so that the
// admin CLI sees it and can lift it, and every node of a cluster honours it.
type Lock struct {
	Since    time.Time
	Until    time.Time
	Failures int    // failed logins that led to the lock
	From     string // client address of the last failure
}

// Recipient is the result of resolving an address that receives mail here.
type Recipient struct {
	Account Account
	// Mailbox is where the message goes: INBOX, or the mailbox named by a
	// subaddress (user+tag) when the account has a mailbox of that name.
	// The directory only proposes the tag; delivery checks the mailbox.
	Tag string
	// Forward, if not "", is an outside address an alias forwards the
	// message to; Account is then zero.
	Forward string
}

// Directory is the set of domains, accounts and aliases.
// Implementations are safe for concurrent use, including by several
// processes on one data directory (the admin CLI beside a running server).
type Directory interface {
	AddDomain(ctx context.Context, name string) (Domain, error)
	RemoveDomain(ctx context.Context, name string) error // fails with accounts or aliases left in it
	Domains(ctx context.Context) ([]Domain, error)
	// SetCatchAll makes account (an address in the domain or elsewhere)
	// receive mail for unknown local parts of domain; "" removes it.
	SetCatchAll(ctx context.Context, domain, account string) error

	// AddAccount adds an account stored in cell; cell "" is the only cell
	// of embedded mode. A cell name is checked with CheckCell.
	AddAccount(ctx context.Context, address, password string, quota int64, cell string) (Account, error)
	RemoveAccount(ctx context.Context, address string) (Account, error)
	Account(ctx context.Context, address string) (Account, error)
	AccountByID(ctx context.Context, id store.Account) (Account, error)
	Accounts(ctx context.Context, domain string) ([]Account, error) // domain "" lists all
	SetPassword(ctx context.Context, address, password string) error
	SetQuota(ctx context.Context, address string, quota int64) error
	// SetCell records that the account is now stored in cell; the caller
	// has moved its data first.
	SetCell(ctx context.Context, address, cell string) error
	// CellCounts returns the number of accounts in each cell that has any,
	// so that a new account can go to the cell with the fewest.
	CellCounts(ctx context.Context) (map[string]int, error)

	AddAlias(ctx context.Context, address string, targets []string) error
	RemoveAlias(ctx context.Context, address string) error
	Aliases(ctx context.Context, domain string) ([]Alias, error)

	// Resolve returns the accounts that receive mail for address, following
	// subaddressing (user+tag@domain, RFC 5233), aliases and catch-alls. It
	// returns an error wrapping ErrNotLocal when the domain is not ours and
	// ErrNoSuchUser when the domain is ours but nobody receives the address.
	Resolve(ctx context.Context, address string) ([]Recipient, error)
	// IsLocal reports whether domain is one of ours.
	IsLocal(ctx context.Context, domain string) (bool, error)

	// Authenticate checks a login. It returns ErrBadCredentials for an
	// unknown address or a wrong password, the same way for both.
	Authenticate(ctx context.Context, address, password string) (Account, error)

	// LockAccount records a lock on the account with this address; an
	// address that is not an account is ignored, so guesses at made-up
	// names cannot fill the directory.
	LockAccount(ctx context.Context, address string, l Lock) error
	// AccountLock returns the account's lock if one holds now.
	AccountLock(ctx context.Context, address string) (l Lock, locked bool, err error)
	// UnlockAccount lifts the account's lock; it reports whether one held.
	UnlockAccount(ctx context.Context, address string) (bool, error)

	Close() error
}
