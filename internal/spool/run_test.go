package spool

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type call struct {
	id      string
	rcpt    int
	account int64
}

// recorder is a Handler that records successful deliveries; fail, if
// set, decides failures.
type recorder struct {
	fail func(e *Entry, rcpt int) error

	mu        sync.Mutex
	delivered []call
	attempts  int
}

func (r *recorder) Handle(ctx context.Context, e *Entry, data []byte, rcpt int) error {
	r.mu.Lock()
	r.attempts++
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		if err := fail(e, rcpt); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delivered = append(r.delivered, call{e.ID, rcpt, e.Envelope.Recipients[rcpt].Account})
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.delivered)
}

func (r *recorder) calls() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.delivered...)
}

func (r *recorder) tries() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts
}

func (r *recorder) setFail(f func(e *Entry, rcpt int) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = f
}

// runLoop runs s's loop until the returned function is called.
func runLoop(t *testing.T, s *Spool, h Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// settled reports whether s's running loop has nothing left to do.
func settled(s *Spool) func() bool {
	return func() bool {
		st := s.State()
		return s.Stats().Depth == 0 && st.Running && st.Pending == 0 && st.InFlight == 0
	}
}

// clock is a settable clock for tests of the breaker.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestOrderPerAccount(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, Options{Workers: 4, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond, BreakerFailures: 1000, PollInterval: 10 * time.Millisecond})
	var fails sync.Map // envelope sender -> failures left
	h := &recorder{fail: func(e *Entry, rcpt int) error {
		if v, ok := fails.Load(e.Envelope.From); ok && v.(*atomic.Int32).Add(-1) >= 0 {
			return errors.New("transient")
		}
		return nil
	}}
	// Half of the entries are spooled before the loop starts, half while
	// it runs; every seventh fails twice; some have several accounts.
	var want []string
	add := func(i int) {
		accts := []int64{int64(i%5 + 1)}
		if i%4 == 0 {
			accts = append(accts, int64((i+2)%5+1))
		}
		env := envFor(accts...)
		env.From = fmt.Sprintf("sender%d@example.org", i)
		if i%7 == 0 {
			n := &atomic.Int32{}
			n.Store(2)
			fails.Store(env.From, n)
		}
		want = append(want, enqueue(t, s, env, fmt.Sprintf("Subject: %d\r\n\r\n", i)))
	}
	for i := range 60 {
		add(i)
	}
	runLoop(t, s, h)
	for i := 60; i < 120; i++ {
		add(i)
	}
	waitFor(t, "spool to drain", settled(s))

	last := map[int64]string{}
	perEntry := map[string]int{}
	for _, c := range h.calls() {
		if c.id <= last[c.account] {
			t.Fatalf("account %d: %s delivered after %s", c.account, c.id, last[c.account])
		}
		last[c.account] = c.id
		perEntry[c.id]++
	}
	for i, id := range want {
		n := 1
		if i%4 == 0 {
			n = 2
		}
		if perEntry[id] != n {
			t.Fatalf("entry %s delivered %d times, want %d", id, perEntry[id], n)
		}
	}
	if st := s.State(); st.FailedAttempts != 2*uint64(len(want)/7+1) || st.Pending != 0 {
		t.Fatalf("state = %+v", st)
	}
	if names := dirNames(t, filepath.Join(dir, queueDir)); len(names) != 0 {
		t.Fatalf("queue not empty: %v", names)
	}
}

func TestBackoffThenDelivery(t *testing.T) {
	s := openSpool(t, t.TempDir(), Options{RetryMin: time.Millisecond, RetryMax: 4 * time.Millisecond, BreakerFailures: 100})
	var left atomic.Int32
	left.Store(5)
	h := &recorder{fail: func(e *Entry, rcpt int) error {
		if left.Add(-1) >= 0 {
			return errors.New("store unavailable")
		}
		return nil
	}}
	id := enqueue(t, s, envFor(1), "x")
	var latency atomic.Int64
	s.opts.OnDelivered = func(e *Entry, d time.Duration) { latency.Store(int64(d) + 1) }
	runLoop(t, s, h)
	waitFor(t, "delivery", settled(s))
	if c := h.calls()[0]; c.id != id || h.tries() != 6 {
		t.Fatalf("delivered %+v after %d tries", c, h.tries())
	}
	if latency.Load() == 0 {
		t.Fatal("OnDelivered not called")
	}
	if st := s.State(); st.Delivered != 1 || st.FailedAttempts != 5 || st.LastError != "store unavailable" {
		t.Fatalf("state = %+v", st)
	}
}

func TestBackoffBounds(t *testing.T) {
	s := openSpool(t, t.TempDir(), Options{RetryMin: time.Second, RetryMax: time.Minute})
	for attempts := 1; attempts < 100; attempts++ {
		d := s.backoff(attempts)
		if d < time.Second || d > time.Minute {
			t.Fatalf("backoff(%d) = %v", attempts, d)
		}
	}
	if d := s.backoff(30); d < 30*time.Second {
		t.Fatalf("backoff(30) = %v, want at least half of RetryMax", d)
	}
}

func TestBreaker(t *testing.T) {
	clk := newClock()
	s := openSpool(t, t.TempDir(), Options{
		Workers: 1, RetryMin: time.Millisecond, RetryMax: time.Millisecond,
		BreakerFailures: 3, BreakerCooldown: time.Hour,
		PollInterval: 5 * time.Millisecond, Now: clk.now,
	})
	down := errors.New("store unavailable")
	h := &recorder{fail: func(*Entry, int) error { return down }}
	var ids []string
	for i := range 10 {
		ids = append(ids, enqueue(t, s, envFor(int64(i+1)), "x"))
	}
	runLoop(t, s, h)
	waitFor(t, "breaker to open", func() bool { st := s.State(); return st.Breaker == BreakerOpen && st.InFlight == 0 })
	if n := h.tries(); n != 3 {
		t.Fatalf("%d attempts before the breaker opened, want 3", n)
	}
	// While open nothing is tried, even what is new or retried.
	enqueue(t, s, envFor(99), "y")
	if err := s.Retry(context.Background(), ids[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "new entry scheduled", func() bool { return s.State().Pending == 11 })
	clk.advance(time.Millisecond)
	if n := h.tries(); n != 3 {
		t.Fatalf("%d attempts while open, want 3", n)
	}

	// After the cooldown one probe goes through; it fails and reopens.
	clk.advance(time.Hour)
	waitFor(t, "probe", func() bool { return h.tries() == 4 })
	waitFor(t, "breaker to reopen", func() bool { st := s.State(); return st.Breaker == BreakerOpen && st.InFlight == 0 })
	clk.advance(time.Millisecond)
	if n := h.tries(); n != 4 {
		t.Fatalf("%d attempts, want 4", n)
	}

	// The store is back: the next probe closes the breaker and the backlog
	// drains without waiting for each entry's backoff.
	h.setFail(nil)
	clk.advance(time.Hour)
	waitFor(t, "drain", func() bool { return h.count() == 11 })
	if st := s.State(); st.Breaker != BreakerClosed || st.ConsecutiveFailures != 0 {
		t.Fatalf("state after recovery = %+v", st)
	}
	for i, c := range h.calls()[1:] {
		if prev := h.calls()[i]; c.id < prev.id {
			t.Fatalf("backlog not drained oldest first: %s after %s", c.id, prev.id)
		}
	}
}

func TestDrainRate(t *testing.T) {
	clk := newClock()
	s := openSpool(t, t.TempDir(), Options{DrainRate: 2, PollInterval: 5 * time.Millisecond, Now: clk.now})
	for i := range 6 {
		enqueue(t, s, envFor(int64(i+1)), "x")
	}
	h := &recorder{}
	runLoop(t, s, h)
	// A full bucket of two, then one per half second of the clock.
	waitFor(t, "burst", func() bool { return h.count() == 2 })
	enqueue(t, s, envFor(50), "y") // wakes the loop; still no token
	waitFor(t, "new entry scheduled", func() bool { return s.State().Pending == 5 })
	if n := h.count(); n != 2 {
		t.Fatalf("%d delivered without tokens, want 2", n)
	}
	clk.advance(500 * time.Millisecond)
	waitFor(t, "one token", func() bool { return h.count() == 3 })
	waitFor(t, "drain", func() bool {
		clk.advance(time.Second)
		return h.count() == 7
	})
}

func TestPermanent(t *testing.T) {
	s := openSpool(t, t.TempDir(), Options{})
	var mu sync.Mutex
	var reported []int
	s.opts.OnPermanent = func(e *Entry, rcpt int, err error) error {
		mu.Lock()
		defer mu.Unlock()
		if !errors.Is(err, ErrPermanent) {
			t.Errorf("OnPermanent error %v", err)
		}
		reported = append(reported, rcpt)
		return nil
	}
	env := envFor(0, 0, 0)
	env.Recipients[1].Address = "nobody@remote.example"
	h := &recorder{fail: func(e *Entry, rcpt int) error {
		if e.Envelope.Recipients[rcpt].Address == "nobody@remote.example" {
			return fmt.Errorf("550 5.1.1 no such user: %w", ErrPermanent)
		}
		return nil
	}}
	enqueue(t, s, env, "x")
	runLoop(t, s, h)
	waitFor(t, "entry finished", settled(s))
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 || reported[0] != 1 || h.count() != 2 {
		t.Fatalf("reported %v, delivered %+v", reported, h.calls())
	}
	if st := s.State(); st.Permanent != 1 || st.Delivered != 2 || st.FailedAttempts != 0 {
		t.Fatalf("state = %+v", st)
	}
}

// A second Spool on the directory, as the admin CLI opens it, sees the
// running loop's entries, and the loop honours its Retry and Remove.
func TestAdminFromAnotherSpool(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	server := openSpool(t, dir, Options{RetryMin: time.Hour, RetryMax: time.Hour, PollInterval: 5 * time.Millisecond})
	h := &recorder{fail: func(*Entry, int) error { return errors.New("not yet") }}
	a := enqueue(t, server, envFor(1), "a")
	b := enqueue(t, server, envFor(2), "b")
	runLoop(t, server, h)
	waitFor(t, "both attempted", func() bool { st := server.State(); return st.FailedAttempts == 2 && st.InFlight == 0 })

	cli := openSpool(t, dir, Options{})
	if err := cli.Run(ctx, h); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run = %v, want ErrRunning", err)
	}
	list, err := cli.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Attempts != 1 || list[0].LastError != "not yet" || list[0].NextAttempt.IsZero() {
		t.Fatalf("CLI lists %+v", list)
	}

	if err := cli.Remove(ctx, a); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "loop to forget the removed entry", func() bool { return server.State().Pending == 1 && server.Stats().Depth == 1 })

	h.setFail(nil)
	if err := cli.Retry(ctx, b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "retried entry delivered", func() bool { return h.count() == 1 })
	if c := h.calls()[0]; c.id != b {
		t.Fatalf("delivered %s, want %s", c.id, b)
	}
	waitFor(t, "spool empty", settled(server))
}

// A restarted loop resumes an entry where the previous one stopped.
func TestResume(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, Options{RetryMin: time.Hour, RetryMax: time.Hour})
	h := &recorder{fail: func(e *Entry, rcpt int) error {
		if rcpt == 1 {
			return errors.New("store unavailable")
		}
		return nil
	}}
	id := enqueue(t, s, envFor(1, 2), "x")
	stop := runLoop(t, s, h)
	waitFor(t, "first attempt", func() bool { st := s.State(); return st.Delivered == 1 && st.FailedAttempts == 1 && st.InFlight == 0 })
	stop()

	s2 := openSpool(t, dir, Options{})
	h2 := &recorder{}
	runLoop(t, s2, h2)
	// Its backoff persisted; Retry makes it due.
	if err := s2.Retry(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "resumed delivery", settled(s2))
	if c := h2.calls(); len(c) != 1 || c[0].rcpt != 1 {
		t.Fatalf("resumed calls %+v, want recipient 1 only", c)
	}
}

func TestHandlerPanic(t *testing.T) {
	s := openSpool(t, t.TempDir(), Options{RetryMin: time.Millisecond, RetryMax: time.Millisecond})
	var once atomic.Bool
	h := &recorder{fail: func(*Entry, int) error {
		if once.CompareAndSwap(false, true) {
			panic("bug")
		}
		return nil
	}}
	enqueue(t, s, envFor(1), "x")
	runLoop(t, s, h)
	waitFor(t, "delivery after panic", settled(s))
	if st := s.State(); st.FailedAttempts != 1 || st.Delivered != 1 {
		t.Fatalf("state = %+v", st)
	}
}

// An entry whose recipients all finished, left behind by a failed removal,
// is removed at start without calling the handler.
func TestFinishedEntryRemovedAtStart(t *testing.T) {
	s := openSpool(t, t.TempDir(), Options{})
	id := enqueue(t, s, envFor(1, 2), "x")
	e, _, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	e.Envelope.Recipients[0].Done = true
	e.Envelope.Recipients[1].Failed = "550 no such user"
	if err := s.writeState(&e); err != nil {
		t.Fatal(err)
	}
	h := &recorder{}
	runLoop(t, s, h)
	waitFor(t, "removal", settled(s))
	if h.tries() != 0 {
		t.Fatalf("handler called %d times", h.tries())
	}
	if names := dirNames(t, filepath.Join(s.dir, queueDir)); len(names) != 0 {
		t.Fatalf("queue holds %v", names)
	}
}

// TestRemovalSync checks that with a ReplaySafe handler a delivered entry
// leaves without a sync round of its own, and that an entry with a
// recipient that failed for good, or any entry of a queue whose replays
// are not safe, leaves with one.
func TestRemovalSync(t *testing.T) {
	for _, tc := range []struct {
		name       string
		replaySafe bool
		fail       bool
		wantSyncs  uint64
	}{
		{"delivered", true, false, 0},
		{"failed", true, true, 1},
		{"not replay-safe", false, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openSpool(t, t.TempDir(), Options{ReplaySafe: tc.replaySafe})
			s.opts.OnPermanent = func(*Entry, int, error) error { return nil }
			enqueue(t, s, envFor(0), "x")
			before := s.qsync.Rounds()
			h := &recorder{}
			if tc.fail {
				h.fail = func(*Entry, int) error { return fmt.Errorf("550 5.1.1 no such user: %w", ErrPermanent) }
			}
			runLoop(t, s, h)
			waitFor(t, "entry finished", settled(s))
			if n := s.qsync.Rounds() - before; n != tc.wantSyncs {
				t.Errorf("%d sync rounds after the delivery began, want %d", n, tc.wantSyncs)
			}
		})
	}
}

// A recipient over quota defers its message: it stays in the spool and is
// retried, and the breaker, which guards our storage, stays closed while
// other mail flows.
func TestDeferralDoesNotOpenBreaker(t *testing.T) {
	clk := newClock()
	s := openSpool(t, t.TempDir(), Options{
		Workers: 1, RetryMin: time.Millisecond, RetryMax: time.Millisecond,
		BreakerFailures: 3, BreakerCooldown: time.Hour,
		PollInterval: 5 * time.Millisecond, Now: clk.now,
	})
	full := envFor(1)
	h := &recorder{fail: func(e *Entry, _ int) error {
		if e.Envelope.Recipients[0].Account == full.Recipients[0].Account {
			return fmt.Errorf("mailbox over quota: %w", ErrDeferred)
		}
		return nil
	}}
	for range 5 {
		enqueue(t, s, full, "x")
	}
	runLoop(t, s, h)
	waitFor(t, "deferred attempts", func() bool {
		clk.advance(time.Millisecond)
		return h.tries() >= 15
	})
	if st := s.State(); st.Breaker != BreakerClosed {
		t.Fatalf("breaker %v after deferrals, want closed", st.Breaker)
	}
	enqueue(t, s, envFor(2), "y")
	waitFor(t, "other mail delivered", func() bool { return s.State().Delivered == 1 })
	if st := s.Stats(); st.Depth != 5 {
		t.Fatalf("spool depth %d, want the 5 deferred messages kept", st.Depth)
	}
}
