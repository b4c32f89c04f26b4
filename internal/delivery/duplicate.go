package delivery

import (
	"context"
	"time"

	"casella/internal/store"
)

// Kinds of the Sieve records (directory.SieveMemory).
const (
	kindDuplicate = "duplicate"
	kindVacation  = "vacation"
)

// seen answers the duplicate test (RFC 7352 section 3) from the records
// other deliveries made: the record this delivery made before a crash
// does not count, so its replay takes the branch the first run took. When
// the records cannot be read the message counts as new: a second copy
// filed is better than a message dropped as a duplicate.
func (f *Filters) seen(ctx context.Context, acct store.Account, owner string, now time.Time) func(string) bool {
	if f.Memory == nil {
		return nil
	}
	return func(key string) bool {
		held, err := f.Memory.SieveRecordHeld(ctx, acct, kindDuplicate, key, owner, now)
		if err != nil {
			f.Logger.Warn("sieve duplicate: reading the records failed; the message counts as new", "account", acct, "err", err)
			return false
		}
		return held
	}
}
