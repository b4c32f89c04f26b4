package spool

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// A queue with a lifetime warns the sender once when a recipient is late,
// even across a restart, and gives the recipient up when the lifetime
// runs out: a permanent failure, reported through OnPermanent.
func TestDelayNoticeAndLifetime(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	var mu sync.Mutex
	var warned, gaveUp []string
	opts := Options{
		Workers: 1, RetryMin: time.Minute, RetryMax: time.Minute,
		BreakerFailures: 1000, PollInterval: 5 * time.Millisecond, Now: clk.now,
		WarnAfter: 4 * time.Hour, Lifetime: 120 * time.Hour,
		OnDelay: func(e *Entry, rcpt int, err error) error {
			mu.Lock()
			defer mu.Unlock()
			warned = append(warned, e.Envelope.Recipients[rcpt].Address)
			return nil
		},
		OnPermanent: func(e *Entry, rcpt int, err error) error {
			mu.Lock()
			defer mu.Unlock()
			if !errors.Is(err, ErrExpired) {
				t.Errorf("give-up %v does not wrap ErrExpired", err)
			}
			gaveUp = append(gaveUp, err.Error())
			return nil
		},
	}
	count := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return len(warned), len(gaveUp)
	}
	h := &recorder{fail: func(*Entry, int) error { return errors.New("451 try later") }}

	s := openSpool(t, dir, opts)
	env := envFor(0)
	env.Received = clk.now()
	enqueue(t, s, env, "x")
	stop := runLoop(t, s, h)
	// An attempt a minute, for five hours: one notice after four.
	for range 5 * 60 {
		clk.advance(time.Minute)
		time.Sleep(time.Millisecond)
	}
	waitFor(t, "the delay notice", func() bool { w, _ := count(); return w == 1 })
	stop()
	s.Close()

	// After a restart the recipient is still known to be warned.
	s = openSpool(t, dir, opts)
	runLoop(t, s, h)
	clk.advance(time.Hour)
	waitFor(t, "another attempt", func() bool { return s.State().FailedAttempts > 0 })
	if w, g := count(); w != 1 || g != 0 {
		t.Fatalf("after a restart: %d notices, %d give-ups; want 1 and 0", w, g)
	}

	clk.advance(120 * time.Hour)
	waitFor(t, "the give-up", func() bool { _, g := count(); return g == 1 })
	waitFor(t, "the entry to leave", func() bool { return s.Stats().Depth == 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(warned) != 1 || !strings.HasPrefix(gaveUp[0], "gave up after 120h0m0s of retries") || !strings.HasSuffix(gaveUp[0], "451 try later") {
		t.Fatalf("notices %v, give-up %q", warned, gaveUp)
	}
}
