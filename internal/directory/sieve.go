package directory

import (
	"context"

	"casella/internal/store"
)

// SieveScript names one of an account's Sieve scripts (RFC 5804 section
// 1.2): at most one of them is active, the one that filters its mail.
type SieveScript struct {
	Name   string
	Active bool
}

// SieveScripts stores each account's Sieve scripts, as ManageSieve
// manages them and the delivery runs the active one. Directories that
// keep scripts implement it beside Directory. Errors wrap ErrNotFound for
// a missing script, ErrExists for a name taken, ErrInUse for deleting the
// active script (RFC 5804 section 2.10).
type SieveScripts interface {
	// SieveScripts lists the account's scripts sorted by name.
	SieveScripts(ctx context.Context, acct store.Account) ([]SieveScript, error)
	// SieveScript returns the source of a script.
	SieveScript(ctx context.Context, acct store.Account, name string) (SieveScript, string, error)
	// PutSieveScript creates or replaces a script; the caller has
	// compiled it.
	PutSieveScript(ctx context.Context, acct store.Account, name, source string) error
	DeleteSieveScript(ctx context.Context, acct store.Account, name string) error
	RenameSieveScript(ctx context.Context, acct store.Account, from, to string) error
	// SetActiveSieveScript makes name the active script; "" leaves none
	// active.
	SetActiveSieveScript(ctx context.Context, acct store.Account, name string) error
	// ActiveSieveScript returns the name and source of the active script,
	// or ErrNotFound when there is none.
	ActiveSieveScript(ctx context.Context, acct store.Account) (string, string, error)
}
