package directory

import (
	"context"
	"time"

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

// SieveMemory is what Sieve remembers between deliveries of an account:
// the vacation replies sent (RFC 5230 section 4.2) and the message ids the
// duplicate test tracked (RFC 7352 section 3). It lives beside the scripts,
// so that a restart or another node of the cluster sees the same record.
//
// Each record is a key of a kind, held by an owner (the delivery that
// made it) until it expires. The owner makes a replayed delivery decide
// as the first run did: the record it made does not count against it.
type SieveMemory interface {
	// ClaimSieveRecord makes owner the holder of the record until
	// expires unless another owner holds it unexpired at now; then, if
	// refresh, the record's expiry moves to expires without changing its
	// holder. It reports whether owner holds the record.
	ClaimSieveRecord(ctx context.Context, acct store.Account, kind, key, owner string, now, expires time.Time, refresh bool) (bool, error)
	// SieveRecordHeld reports whether a record is held unexpired at now
	// by an owner other than owner.
	SieveRecordHeld(ctx context.Context, acct store.Account, kind, key, owner string, now time.Time) (bool, error)
}
