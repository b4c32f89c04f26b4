package spool

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Run delivers the spool's entries with h until ctx is done, then waits for
// running Handle calls to return and returns nil. It first recovers what a
// previous run left: temporary files are removed and every entry is
// resumed. Only one Run may be active per directory; another returns
// ErrRunning.
func (s *Spool) Run(ctx context.Context, h Handler) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	l := &loop{s: s, sc: newSched(), h: h, cells: map[string]*cellLoop{}}
	if err := l.recover(); err != nil {
		return err
	}
	return l.run(ctx)
}

// State returns the delivery loop's state.
func (s *Spool) State() LoopState {
	s.loopMu.Lock()
	defer s.loopMu.Unlock()
	return s.loop
}

// lock takes the directory's loop lock, held until the returned function
// is called.
func (s *Spool) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: open lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrRunning
		}
		return nil, fmt.Errorf("spool: lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// loop is the state of one Run, owned by its goroutine.
type loop struct {
	s     *Spool
	sc    *sched
	h     Handler
	st    LoopState
	cells map[string]*cellLoop

	inflight int // batches out
	running  int // their tasks

	tokens    float64 // DrainRate token bucket
	refilled  time.Time
	rateLimit bool
}

// cellLoop is the circuit breaker of one cell and its work in flight. A
// breaker per cell, not one for the loop: when one cell's store fails,
// only its deliveries pause, and the other cells' go on.
type cellLoop struct {
	st       CellState
	until    time.Time // while the breaker is open
	probing  bool      // the half-open probe is running
	inflight int       // batches out
	running  int       // their tasks
}

// cell returns the state of cell, made on first use.
func (l *loop) cell(name string) *cellLoop {
	c := l.cells[name]
	if c == nil {
		c = &cellLoop{}
		l.cells[name] = c
	}
	return c
}

func (l *loop) run(ctx context.Context) error {
	s := l.s
	tasks := make(chan []task)
	// Each worker has at most one result outstanding, so workers never
	// block on sending one, even while the loop is shutting down.
	results := make(chan []result, s.opts.Workers)
	var wg sync.WaitGroup
	for range s.opts.Workers {
		wg.Go(func() {
			for t := range tasks {
				results <- s.work(ctx, l.h, t)
			}
		})
	}
	poll := time.NewTicker(s.opts.PollInterval)
	defer poll.Stop()
	rescan := time.NewTicker(s.opts.RescanInterval)
	defer rescan.Stop()
	prune := time.NewTicker(pruneSentEvery)
	defer prune.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	l.rateLimit = s.opts.DrainRate > 0
	l.tokens = max(1, s.opts.DrainRate)
	l.refilled = s.opts.Now()

	for {
		now := s.opts.Now()
		var wake time.Time
		// With fewer batches out than workers, a worker is waiting for
		// one or about to: each holds at most one unread result, in a
		// channel with room for it, so the send below returns at once.
		if l.inflight < s.opts.Workers {
			if p := l.sc.peek(now, func(p *part) bool { return l.start(p, now) }); p != nil {
				if wake = l.tokenAt(now); wake.IsZero() {
					c := l.cell(p.cell)
					batch := l.sc.next(now, p, l.batchMax(c))
					tasks <- batch
					l.inflight++
					l.running += len(batch)
					c.inflight++
					c.running += len(batch)
					l.tokens -= float64(len(batch))
					if c.st.Breaker == BreakerHalfOpen {
						c.probing = true
					}
					continue
				}
			}
		}
		wake = earliest(wake, l.sc.wake())
		for _, c := range l.cells {
			if c.st.Breaker == BreakerOpen {
				wake = earliest(wake, c.until)
			}
		}
		if wake.IsZero() {
			timer.Reset(time.Hour)
		} else {
			timer.Reset(max(0, wake.Sub(now)))
		}
		l.publish()

		select {
		case rs := <-results:
			l.finished(rs)
		case <-s.notify:
			l.takeFresh()
			l.pokes()
		case <-poll.C:
			l.pokes()
		case <-rescan.C:
			l.rescan()
		case <-prune.C:
			s.pruneSent()
		case <-timer.C:
		case <-ctx.Done():
			close(tasks)
			wg.Wait()
			for len(results) > 0 {
				l.finished(<-results)
			}
			l.publish()
			s.loopMu.Lock()
			s.loop.Running = false
			s.loopMu.Unlock()
			return nil
		}
	}
}

// finished takes the results of one batch.
func (l *loop) finished(rs []result) {
	l.inflight--
	l.running -= len(rs)
	if len(rs) > 0 {
		// A batch is of one cell.
		c := l.cell(rs[0].t.cell)
		c.inflight--
		c.running -= len(rs)
	}
	for _, r := range rs {
		l.apply(r, l.s.opts.Now())
	}
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// start reports whether a worker may take a batch of p's cell now: its
// breaker allows it, and with nothing of the cell out, one starts at once,
// however small. Behind a running batch, another starts only when a full
// batch's worth of the cell's tasks is not running (some may still be
// waiting out a backoff): under load, tasks gather into large batches,
// which cost one commit each, instead of many small ones that take the
// CPU and disk intake needs. While other cells have work, a cell holds at
// most all workers but one, so that a store whose calls hang cannot take
// them all.
func (l *loop) start(p *part, now time.Time) bool {
	c := l.cell(p.cell)
	if !l.allow(p.cell, c, now) {
		return false
	}
	if c.inflight == 0 {
		return true
	}
	if c.inflight >= l.s.opts.Workers-1 && l.busyCells() > 1 {
		return false
	}
	return p.pending-c.running >= l.batchMax(c)
}

// busyCells returns how many cells have tasks.
func (l *loop) busyCells() int {
	n := 0
	for _, p := range l.sc.parts {
		if p.pending > 0 {
			n++
		}
	}
	return n
}

// allow reports whether the breaker of a cell lets a task start now.
func (l *loop) allow(name string, c *cellLoop, now time.Time) bool {
	switch c.st.Breaker {
	case BreakerOpen:
		if now.Before(c.until) {
			return false
		}
		c.st.Breaker, c.probing = BreakerHalfOpen, false
		l.s.opts.Logger.Info("spool: circuit breaker half-open, probing", cellAttr(name)...)
		fallthrough
	case BreakerHalfOpen:
		return !c.probing && c.inflight == 0
	}
	return true
}

// cellAttr names a cell in log records, except the one cell of embedded
// mode and of the outbound queue.
func cellAttr(name string) []any {
	if name == "" {
		return nil
	}
	return []any{"cell", name}
}

// batchMax returns how many tasks may start together in a cell: one for a
// handler that takes them one at a time and for the breaker's probe, and
// no more than the drain rate allows now.
func (l *loop) batchMax(c *cellLoop) int {
	if _, ok := l.h.(BatchHandler); !ok || c.st.Breaker == BreakerHalfOpen {
		return 1
	}
	n := l.s.opts.Batch
	if l.rateLimit {
		n = max(1, min(n, int(l.tokens)))
	}
	return n
}

// tokenAt returns when the drain rate allows the next task, or zero if it
// does now.
func (l *loop) tokenAt(now time.Time) time.Time {
	if !l.rateLimit {
		return time.Time{}
	}
	rate := l.s.opts.DrainRate
	l.tokens = min(max(1, rate), l.tokens+now.Sub(l.refilled).Seconds()*rate)
	l.refilled = now
	if l.tokens >= 1 {
		return time.Time{}
	}
	return now.Add(time.Duration((1 - l.tokens) / rate * float64(time.Second)))
}

// apply takes a worker's result into the scheduler and its cell's
// breaker.
func (l *loop) apply(r result, now time.Time) {
	c := l.cell(r.t.cell)
	switch r.outcome {
	case delivered, permanent:
		if r.outcome == delivered {
			l.st.Delivered++
		} else {
			l.st.Permanent++
		}
		c.st.ConsecutiveFailures = 0
		c.probing = false
		if c.st.Breaker != BreakerClosed {
			c.st.Breaker = BreakerClosed
			l.s.opts.Logger.Info("spool: circuit breaker closed, draining backlog",
				append(cellAttr(r.t.cell), "pending", l.sc.part(r.t.cell).pending)...)
			l.sc.allDue(r.t.cell, now)
		}
		l.sc.done(r.t, true, 0, now)
	case failed:
		r.t.it.failed = true
		l.st.FailedAttempts++
		if errors.Is(r.err, ErrDeferred) {
			// No failure of ours: the breaker does not count it.
			if !r.batched {
				l.s.opts.Logger.Info("spool: delivery deferred, will retry", "id", r.t.it.id, "rcpt", r.t.rcpt, "reason", r.err)
			}
			l.sc.done(r.t, false, r.next, now)
			return
		}
		if r.batched {
			// The batch's first result counted the failure.
			l.sc.done(r.t, false, r.next, now)
			return
		}
		c.st.ConsecutiveFailures++
		c.st.LastError, c.st.LastErrorAt = r.err.Error(), now
		l.s.opts.Logger.Warn("spool: delivery failed, will retry",
			append(cellAttr(r.t.cell), "id", r.t.it.id, "rcpt", r.t.rcpt, "err", r.err)...)
		if c.st.Breaker == BreakerHalfOpen || c.st.Breaker == BreakerClosed && c.st.ConsecutiveFailures >= l.s.opts.BreakerFailures {
			if c.st.Breaker == BreakerClosed {
				l.s.opts.Logger.Error("spool: circuit breaker open, pausing deliveries",
					append(cellAttr(r.t.cell), "failures", c.st.ConsecutiveFailures, "err", r.err)...)
			}
			c.st.Breaker, c.until, c.probing = BreakerOpen, now.Add(l.s.opts.BreakerCooldown), false
		}
		l.sc.done(r.t, false, r.next, now)
	case canceled:
		l.sc.done(r.t, false, r.t.it.next, now)
	case gone, corrupt:
		if r.outcome == corrupt {
			l.st.Corrupt++
		}
		l.s.forget(r.t.it.id)
		l.sc.drop(r.t.it.id, now)
		l.sc.done(r.t, true, 0, now)
	}
}

// publish makes the loop's state visible to State. The loop's breaker is
// the worst of its cells', its failures and last error the latest cell's.
func (l *loop) publish() {
	l.st.Running = true
	l.st.Pending = l.sc.pending
	l.st.InFlight = l.inflight
	l.st.Breaker, l.st.ConsecutiveFailures = BreakerClosed, 0
	cells := make(map[string]CellState, len(l.cells))
	for name, c := range l.cells {
		st := c.st
		st.InFlight = c.inflight
		if p := l.sc.parts[name]; p != nil {
			st.Pending = p.pending
		}
		cells[name] = st
		l.st.Breaker = worse(l.st.Breaker, st.Breaker)
		l.st.ConsecutiveFailures = max(l.st.ConsecutiveFailures, st.ConsecutiveFailures)
		if st.LastErrorAt.After(l.st.LastErrorAt) {
			l.st.LastError, l.st.LastErrorAt = st.LastError, st.LastErrorAt
		}
	}
	for name, p := range l.sc.parts {
		if _, ok := cells[name]; !ok {
			cells[name] = CellState{Pending: p.pending}
		}
	}
	l.st.Cells = cells
	l.s.loopMu.Lock()
	l.s.loop = l.st
	l.s.loopMu.Unlock()
}

// takeFresh schedules entries enqueued in this process.
func (l *loop) takeFresh() {
	l.s.mu.Lock()
	fresh := l.s.fresh
	l.s.fresh = nil
	l.s.mu.Unlock()
	now := l.s.opts.Now()
	for _, e := range fresh {
		l.sc.add(e, now)
	}
}

// recover resumes a previous run's entries.
func (l *loop) recover() error {
	l.s.mu.Lock()
	l.s.fresh = nil // all on disk: the listing below finds them
	l.s.mu.Unlock()
	l.cleanTemp()
	l.s.pruneSent()
	if err := l.clearPokes(); err != nil {
		return err
	}
	if err := l.scan(); err != nil {
		return err
	}
	l.s.opts.Logger.Info("spool: delivery loop started", "entries", len(l.sc.items), "pending", l.sc.pending)
	return nil
}

// rescan picks up entries other processes added or removed.
func (l *loop) rescan() {
	l.cleanTemp()
	if err := l.scan(); err != nil {
		l.s.opts.Logger.Error("spool: rescan", "err", err)
	}
}

// scan reconciles the scheduler and the size index with the directory,
// and removes side files whose message is gone.
func (l *loop) scan() error {
	s := l.s
	des, err := os.ReadDir(filepath.Join(s.dir, queueDir))
	if err != nil {
		return fmt.Errorf("spool: list entries: %w", err)
	}
	now := s.opts.Now()
	listed := map[string]bool{}
	var states []string
	for _, de := range des {
		name := de.Name()
		if id, ok := strings.CutSuffix(name, ".msg"); ok && validID(id) {
			listed[id] = true
			l.load(id, now)
		} else if id, ok := strings.CutSuffix(name, ".state"); ok && validID(id) {
			states = append(states, id)
		}
	}
	for _, id := range states {
		if !listed[id] {
			if _, err := os.Stat(s.msgPath(id)); errors.Is(err, fs.ErrNotExist) {
				os.Remove(s.statePath(id))
			}
		}
	}
	var missing []string
	for id := range l.sc.items {
		if !listed[id] {
			missing = append(missing, id)
		}
	}
	s.mu.Lock()
	for id := range s.sizes {
		if !listed[id] {
			missing = append(missing, id)
		}
	}
	s.mu.Unlock()
	for _, id := range missing {
		// Listed before an Enqueue renamed it, or removed: only the
		// file itself can tell.
		if _, err := os.Stat(s.msgPath(id)); errors.Is(err, fs.ErrNotExist) {
			s.forget(id)
			l.sc.drop(id, now)
		}
	}
	return nil
}

// load schedules an entry found on disk, unless it is scheduled already.
func (l *loop) load(id string, now time.Time) {
	if _, ok := l.sc.items[id]; ok {
		return
	}
	e, size, err := l.s.loadEntry(id)
	switch {
	case errors.Is(err, ErrNotFound):
		l.s.forget(id)
	case errors.Is(err, errCorrupt):
		l.s.opts.Logger.Error("spool: entry is corrupt, moving it to corrupt/", "id", id, "err", err)
		if err := l.s.quarantine(id); err != nil {
			l.s.opts.Logger.Error("spool: quarantine", "id", id, "err", err)
		} else {
			l.st.Corrupt++
		}
	case err != nil:
		l.s.opts.Logger.Error("spool: reading entry", "id", id, "err", err)
	case !unfinished(e):
		// Every recipient finished but the removal failed before.
		if err := l.s.removeFiles(id, l.s.syncRemoval(e)); err != nil {
			l.s.opts.Logger.Error("spool: removing finished entry", "id", id, "err", err)
		}
	default:
		l.s.known(id, size)
		l.sc.add(e, now)
	}
}

// pokes applies Retry and Remove done by any process: each poked entry
// is read again, dropped if gone, made due now otherwise.
func (l *loop) pokes() {
	des, err := os.ReadDir(filepath.Join(l.s.dir, pokeDir))
	if err != nil {
		l.s.opts.Logger.Error("spool: reading pokes", "err", err)
		return
	}
	now := l.s.opts.Now()
	for _, de := range des {
		id := de.Name()
		// Removed first, so a poke arriving while this one is handled
		// is not lost.
		os.Remove(filepath.Join(l.s.dir, pokeDir, id))
		if !validID(id) {
			continue
		}
		if _, err := os.Stat(l.s.msgPath(id)); errors.Is(err, fs.ErrNotExist) {
			l.s.forget(id)
			l.sc.drop(id, now)
			continue
		}
		if _, ok := l.sc.items[id]; ok {
			l.sc.due(id, now)
		} else {
			l.load(id, now)
		}
	}
}

// clearPokes removes pokes left from before a start, which the full scan
// at start makes moot.
func (l *loop) clearPokes() error {
	des, err := os.ReadDir(filepath.Join(l.s.dir, pokeDir))
	if err != nil {
		return fmt.Errorf("spool: reading pokes: %w", err)
	}
	for _, de := range des {
		os.Remove(filepath.Join(l.s.dir, pokeDir, de.Name()))
	}
	return nil
}

// cleanTemp removes temporary files that a crashed writer left. Only old
// ones: another process may be writing a young one right now.
func (l *loop) cleanTemp() {
	dir := filepath.Join(l.s.dir, tmpDir)
	des, err := os.ReadDir(dir)
	if err != nil {
		l.s.opts.Logger.Error("spool: reading temporary files", "err", err)
		return
	}
	cutoff := time.Now().Add(-tempGrace)
	for _, de := range des {
		if fi, err := de.Info(); err == nil && fi.ModTime().Before(cutoff) {
			os.Remove(filepath.Join(dir, de.Name()))
		}
	}
}

// unfinished reports whether e has a recipient left to handle.
func unfinished(e *Entry) bool {
	for _, r := range e.Envelope.Recipients {
		if !r.finished() {
			return true
		}
	}
	return false
}
