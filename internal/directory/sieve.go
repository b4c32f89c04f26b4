package directory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
	"unicode/utf8"

	"casella/internal/store"
)

// SieveScript names one of an account's Sieve scripts (RFC 5804 section
// 1.2): at most one of them is active, the one that filters its mail.
// ID is given at creation and kept through renames and replacements, so
// JMAP's ids never change (RFC 8620 section 1.2).
type SieveScript struct {
	ID     string
	Name   string
	Active bool
}

// VacationScript is the name of the script that holds an account's JMAP
// VacationResponse (RFC 8621 section 8), generated from it; the delivery
// runs it before the active script (docs/sieve.md).
const VacationScript = "casella-vacation"

// SieveScripts stores each account's Sieve scripts, as ManageSieve
// manages them and the delivery runs the active one. Directories that
// keep scripts implement it beside Directory. Errors wrap ErrNotFound for
// a missing script, ErrExists for a name taken, ErrInUse for deleting the
// active script (RFC 5804 section 2.10).
//
// Each account has a script state, a counter that every change of a
// script raises (creation, replacement, rename, activation or
// deactivation, deletion), whoever makes it: ManageSieve, JMAP or the
// VacationResponse. A deleted script leaves a tombstone, so that
// SieveChanges can tell JMAP clients what changed since any state
// (RFC 8620 section 5.2).
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
	// SieveState returns the account's script state.
	SieveState(ctx context.Context, acct store.Account) (int64, error)
	// SieveChanges returns the scripts changed after state since, by
	// ModSeq, each once, and the account's state, read first.
	SieveChanges(ctx context.Context, acct store.Account, since int64) ([]Change, int64, error)
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
	// SetSieveRecord sets a record to value (its owner) until expires,
	// whoever held it: for what the last event decides, such as a
	// script's last failure.
	SetSieveRecord(ctx context.Context, acct store.Account, kind, key, value string, expires time.Time) error
	// SieveRecords returns the values of the account's records of kind
	// unexpired at now, by key.
	SieveRecords(ctx context.Context, acct store.Account, kind string, now time.Time) (map[string]string, error)
}

// ValidSieveScriptName checks a script name (RFC 5804 section 1.6):
// UTF-8 without control characters, line or paragraph separators, of at
// most 255 octets.
func ValidSieveScriptName(name string) bool {
	if name == "" || len(name) > 255 || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r >= 0x7f && r <= 0x9f || r == 0x2028 || r == 0x2029 {
			return false
		}
	}
	return true
}

// sieveFailureKind is the kind of the records of scripts that failed at
// run time, by script name; a record lives a week.
const (
	sieveFailureKind = "failure"
	sieveFailureTTL  = 7 * 24 * time.Hour
)

// RecordSieveFailure records that the version sum (SHA-256 of the source)
// of script name failed at run time with msg, for its owner to see over
// ManageSieve and JMAP.
func RecordSieveFailure(ctx context.Context, m SieveMemory, acct store.Account, name string, sum [32]byte, msg string, at time.Time) error {
	return m.SetSieveRecord(ctx, acct, sieveFailureKind, name, hex.EncodeToString(sum[:8])+" "+at.UTC().Format(time.RFC3339)+" "+msg, at.Add(sieveFailureTTL))
}

// SieveFailures returns the recorded failures of the account's scripts,
// for SieveFailure.
func SieveFailures(ctx context.Context, m SieveMemory, acct store.Account) (map[string]string, error) {
	return m.SieveRecords(ctx, acct, sieveFailureKind, time.Now())
}

// SieveFailure returns the failure recorded among failures for script
// name, "at <time>: <error>", when it is of this source: a script stored
// again has not failed yet.
func SieveFailure(failures map[string]string, name, source string) string {
	sum := sha256.Sum256([]byte(source))
	rest, ok := strings.CutPrefix(failures[name], hex.EncodeToString(sum[:8])+" ")
	if !ok {
		return ""
	}
	at, msg, _ := strings.Cut(rest, " ")
	return "at " + at + ": " + msg
}
