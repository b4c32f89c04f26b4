// Package quota makes an account's storage quota a hard limit (RFC 9208
// calls it the STORAGE resource): intake and delivery both check it, and
// messages between the two are counted.
//
// Implementation notes:
//   - The hard guarantee is at delivery: a message is stored only if the
//     account's usage plus the message stays within the limit (the quota
//     plus a grace for the message that crosses the line). One that does
//     not fit waits in the spool and is retried; it is never bounced or
//     dropped (DESIGN.md invariants 1 and 2). Deliveries to one account
//     run one at a time on a node, so the check and the store do not race.
//   - Intake refuses early so that senders hear of it: a recipient when
//     usage plus the messages in flight reach the quota, a message when it
//     would not fit (452 4.2.2, RFC 3463: temporary, the owner may make
//     room). Messages in flight are reserved at the end of DATA, under one
//     lock with the check, so concurrent senders cannot all squeeze in,
//     and released once delivered.
//   - Reservations live in memory. At start, before the delivery loop
//     runs, ReserveBacklog takes them again for what the spool holds, so
//     a restart does not make room that is not there.
package quota

import (
	"context"
	"fmt"
	"sync"

	"casella/internal/spool"
	"casella/internal/store"
)

// DefaultGrace is the share of the quota a message may cross it by.
const DefaultGrace = 0.10

// Tracker holds the bytes accepted for each account and not yet delivered.
// It is safe for concurrent use.
type Tracker struct {
	grace float64

	mu      sync.Mutex
	pending map[store.Account]int64
}

// NewTracker returns a Tracker that lets a message cross a quota by
// grace times the quota; grace < 0 means DefaultGrace.
func NewTracker(grace float64) *Tracker {
	if grace < 0 {
		grace = DefaultGrace
	}
	return &Tracker{grace: grace, pending: map[store.Account]int64{}}
}

// Limit returns the most bytes an account with quota may hold: the quota
// and its grace.
func (t *Tracker) Limit(quota int64) int64 {
	return quota + int64(float64(quota)*t.grace)
}

// Full reports whether an account with quota and usage has no room left,
// counting the messages in flight to it.
func (t *Tracker) Full(acct store.Account, quota, usage int64) bool {
	if quota <= 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return usage+t.pending[acct] >= quota
}

// Reserve takes size bytes for a message to acct if it fits: the account
// has room, and usage, the messages in flight and this one stay within
// the limit. Each successful Reserve is undone by one Release.
func (t *Tracker) Reserve(acct store.Account, quota, usage, size int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if quota > 0 {
		p := t.pending[acct]
		if usage+p >= quota || usage+p+size > t.Limit(quota) {
			return false
		}
	}
	t.pending[acct] += size
	return true
}

// Release returns size bytes reserved for acct: the message was delivered,
// or intake gave up on it. Bytes never reserved (a backlog from before a
// restart) are ignored.
func (t *Tracker) Release(acct store.Account, size int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pending[acct] - size
	if p <= 0 {
		delete(t.pending, acct)
		return
	}
	t.pending[acct] = p
}

// Fits reports whether a message of size can be stored for an account
// with quota and usage, at delivery.
func (t *Tracker) Fits(quota, usage, size int64) bool {
	return quota <= 0 || usage+size <= t.Limit(quota)
}

// Backlog lists what waits in the intake spool; *spool.Spool implements
// it.
type Backlog interface {
	List(ctx context.Context) ([]spool.Entry, error)
}

// ReserveBacklog reserves, as intake did when it accepted them, the
// messages the spool holds for local recipients not yet delivered. It
// must run before the delivery loop, which releases them. It returns the
// number of recipients reserved.
func (t *Tracker) ReserveBacklog(ctx context.Context, b Backlog) (int, error) {
	entries, err := b.List(ctx)
	if err != nil {
		return 0, fmt.Errorf("quota: reserving the spool's backlog: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, e := range entries {
		for _, r := range e.Envelope.Recipients {
			if r.Account == 0 || r.Done || r.Failed != "" {
				continue
			}
			t.pending[store.Account(r.Account)] += e.Size
			n++
		}
	}
	return n, nil
}
