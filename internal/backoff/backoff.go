// Package backoff spaces out the retries of work that failed: the spool's
// deliveries and the certificates asked of an ACME CA.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Delay returns the wait after the given number of failed attempts: least
// doubled per attempt up to most, with jitter taking off up to half so that
// work that failed together does not retry together. It is never below
// least.
func Delay(attempts int, least, most time.Duration) time.Duration {
	d := least
	for i := 1; i < attempts && d < most; i++ {
		d *= 2
	}
	d = min(d, most)
	d -= rand.N(d/2 + 1)
	return max(d, least)
}
