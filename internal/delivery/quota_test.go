package delivery

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"casella/internal/quota"
	"casella/internal/spool"
	"casella/internal/store"
)

// Mail accepted for a full account waits in the spool, never stored past
// the quota and its grace, and goes in once there is room.
func TestQuotaIsHardAtDelivery(t *testing.T) {
	e := setup(t, spool.Options{Workers: 4, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond})
	ctx := context.Background()
	if err := e.store.EnsureAccount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := e.store.EnsureAccount(ctx, 2); err != nil {
		t.Fatal(err)
	}
	var limit atomic.Int64
	limit.Store(2500)
	tracker := quota.NewTracker(0.10)
	e.d.Quota = func(_ context.Context, acct store.Account) (int64, error) {
		if acct == 1 {
			return limit.Load(), nil
		}
		return 0, nil
	}
	e.d.Reserved = tracker
	body := "Subject: x\r\n\r\n" + strings.Repeat("a", 1000) + "\r\n"
	for range 10 {
		e.enqueue(t, "a@example.org", []spool.Recipient{{Address: "u1@example.com", Account: 1}}, body)
	}
	e.enqueue(t, "a@example.org", []spool.Recipient{{Address: "u2@example.com", Account: 2}}, body)
	e.run(t)

	usage := func(acct store.Account) store.Usage {
		u, err := e.store.Usage(ctx, acct)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	// Two messages fit; the third would pass 2500 + 10%. The spool lets
	// go of a delivered message only after the store took it, so the
	// steady state is also the 8 over quota left in the spool.
	deadline := time.Now().Add(30 * time.Second)
	for usage(2).Messages != 1 || usage(1).Messages < 2 || e.spool.State().FailedAttempts < 20 || e.spool.Stats().Depth != 8 {
		if u := usage(1); u.Bytes > tracker.Limit(2500) {
			t.Fatalf("usage %d bytes, past the limit %d", u.Bytes, tracker.Limit(2500))
		}
		if time.Now().After(deadline) {
			t.Fatalf("no steady state: usage %+v, spool %+v, depth %d (want the 8 over quota)", usage(1), e.spool.State(), e.spool.Stats().Depth)
		}
		time.Sleep(time.Millisecond)
	}
	if u := usage(1); u.Messages != 2 || u.Bytes > tracker.Limit(2500) {
		t.Fatalf("usage %+v, want 2 messages within %d bytes", u, tracker.Limit(2500))
	}
	if st := e.spool.State(); st.Breaker != spool.BreakerClosed {
		t.Fatalf("breaker %v: waiting for room is no failure", st.Breaker)
	}

	// The owner gets more room: the waiting mail goes in.
	limit.Store(1 << 20)
	e.drain(t)
	if u := usage(1); u.Messages != 10 {
		t.Fatalf("usage %+v after raising the quota, want 10 messages", u)
	}
}
