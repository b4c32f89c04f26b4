package limit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate bounds events per key, such as messages per client address or
// recipients per sending account: n in any window of per, refilled
// evenly (a token bucket from golang.org/x/time/rate). It is safe for
// concurrent use; keys unused for a window are forgotten.
type Rate struct {
	n   int
	per time.Duration

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	l    *rate.Limiter
	last time.Time
}

// NewRate returns a limiter of n events per period; n <= 0 returns nil,
// which allows everything.
func NewRate(n int, per time.Duration) *Rate {
	if n <= 0 {
		return nil
	}
	return &Rate{n: n, per: per, buckets: map[string]*bucket{}}
}

// Allow takes one event for key, if the limit allows it now.
func (r *Rate) Allow(key string) bool {
	if r == nil {
		return true
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.swept) > r.per {
		for k, b := range r.buckets {
			if now.Sub(b.last) > r.per {
				delete(r.buckets, k)
			}
		}
		r.swept = now
	}
	b, ok := r.buckets[key]
	if !ok {
		b = &bucket{l: rate.NewLimiter(rate.Every(r.per/time.Duration(r.n)), r.n)}
		r.buckets[key] = b
	}
	b.last = now
	return b.l.AllowN(now, 1)
}
