package delivery

import (
	"context"
	"crypto/sha256"
	"errors"

	"casella/internal/directory"
	"casella/internal/sieve"
	"casella/internal/store"
)

// readVacation reads the script of the account's JMAP VacationResponse
// into c, compiling it only when its source changed. While the directory
// cannot be read, the one read last is kept.
func (f *Filters) readVacation(ctx context.Context, acct store.Account, c *cachedScript) {
	_, src, err := f.Scripts.SieveScript(ctx, acct, directory.VacationScript)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		c.vacation = nil
	case err != nil:
		f.Logger.Warn("reading the vacation response's sieve script; using the last one read", "account", acct, "err", err)
	default:
		sum := sha256.Sum256([]byte(src))
		if c.vacation != nil && sum == c.vacationSum {
			return
		}
		s, err := sieve.Compile(src)
		if err != nil {
			f.Logger.Warn("the vacation response's sieve script does not compile; no vacation replies", "account", acct, "err", err)
		}
		c.vacation, c.vacationSum = s, sum
	}
}
