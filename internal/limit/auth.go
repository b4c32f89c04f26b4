package limit

import (
	"context"
	"sync"
	"time"
)

// Auth slows down clients that keep failing to authenticate: after Free
// failures, each further attempt from the same key waits twice as long as
// the one before, from Base up to Max. Failures are forgotten after Forget
// without any, and a success clears them.
type Auth struct {
	Free   int
	Base   time.Duration
	Max    time.Duration
	Forget time.Duration

	mu       sync.Mutex
	failures map[string]*failures
}

type failures struct {
	count int
	last  time.Time
}

// NewAuth returns an Auth with the defaults: 3 free failures, then delays
// from 1 s doubling up to 30 s, forgotten after 15 minutes.
func NewAuth() *Auth {
	return &Auth{Free: 3, Base: time.Second, Max: 30 * time.Second, Forget: 15 * time.Minute, failures: map[string]*failures{}}
}

// Delay returns how long the next attempt from key must wait.
func (a *Auth) Delay(key string) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.failures[key]
	if f == nil {
		return 0
	}
	if time.Since(f.last) > a.Forget {
		delete(a.failures, key)
		return 0
	}
	n := f.count - a.Free
	if n < 0 {
		return 0
	}
	d := a.Base
	for i := 0; i < n && d < a.Max; i++ {
		d *= 2
	}
	return min(d, a.Max)
}

// Wait sleeps for the delay key owes, or until ctx is done.
func (a *Auth) Wait(ctx context.Context, key string) error {
	d := a.Delay(key)
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Failure records a failed attempt from key.
func (a *Auth) Failure(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.failures[key]
	if f == nil {
		f = &failures{}
		a.failures[key] = f
	}
	f.count++
	f.last = time.Now()
	a.sweep()
}

// Success clears key's failures.
func (a *Auth) Success(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.failures, key)
}

// sweep drops forgotten keys once the map grows, keeping memory bounded
// under a distributed guessing attack. a.mu must be held.
func (a *Auth) sweep() {
	if len(a.failures) < 4096 {
		return
	}
	for k, f := range a.failures {
		if time.Since(f.last) > a.Forget {
			delete(a.failures, k)
		}
	}
}
