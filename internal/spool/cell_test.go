package spool

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// cellBatcher records the cells of each batch and fails the tasks of
// the cells in down.
type cellBatcher struct {
	mu        sync.Mutex
	down      map[string]bool
	batches   [][]string // cells of each batch's tasks
	delivered map[string]int
	tries     map[string]int
}

func (b *cellBatcher) Handle(ctx context.Context, e *Entry, data []byte, rcpt int) error {
	return b.HandleBatch(ctx, []Task{{Entry: e, Data: data, Rcpt: rcpt}})
}

func (b *cellBatcher) HandleBatch(_ context.Context, batch []Task) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var cells []string
	for _, t := range batch {
		cells = append(cells, t.Entry.Envelope.Recipients[t.Rcpt].Cell)
	}
	b.batches = append(b.batches, cells)
	b.tries[cells[0]]++
	for _, c := range cells {
		if b.down[c] {
			return errors.New("cell " + c + " is down")
		}
	}
	for _, c := range cells {
		b.delivered[c]++
	}
	return nil
}

func (b *cellBatcher) setDown(cell string, down bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.down[cell] = down
}

func (b *cellBatcher) count(cell string) (delivered, tries int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.delivered[cell], b.tries[cell]
}

func cellEnv(cell string, accounts ...int64) Envelope {
	env := envFor(accounts...)
	for i := range env.Recipients {
		env.Recipients[i].Cell = cell
	}
	return env
}

// TestBreakerPerCell: while cell a's store fails, its breaker opens and
// cell b's mail keeps flowing; batches never mix cells; when a returns,
// its backlog drains.
func TestBreakerPerCell(t *testing.T) {
	clk := newClock()
	s := openSpool(t, t.TempDir(), Options{
		Workers: 2, Batch: 8, RetryMin: time.Millisecond, RetryMax: time.Millisecond,
		BreakerFailures: 3, BreakerCooldown: time.Hour,
		PollInterval: 5 * time.Millisecond, Now: clk.now,
	})
	h := &cellBatcher{down: map[string]bool{"a": true}, delivered: map[string]int{}, tries: map[string]int{}}
	for i := range 20 {
		enqueue(t, s, cellEnv("a", int64(100+i)), "x")
	}
	runLoop(t, s, h)
	waitFor(t, "cell a's breaker to open", func() bool {
		st := s.State()
		return st.Cells["a"].Breaker == BreakerOpen && st.InFlight == 0
	})
	_, triesA := h.count("a")

	// Cell b, and a mixed entry's b recipient, go through while a waits.
	for i := range 20 {
		enqueue(t, s, cellEnv("b", int64(200+i%5)), "y")
	}
	mixed := envFor(100, 300)
	mixed.Recipients[0].Cell, mixed.Recipients[1].Cell = "a", "b"
	enqueue(t, s, mixed, "z")
	// The handler counts a delivery before the loop records it: wait for
	// both.
	waitFor(t, "cell b delivered", func() bool {
		n, _ := h.count("b")
		b := s.State().Cells["b"]
		return n == 21 && b.Pending == 0 && b.InFlight == 0
	})
	if _, n := h.count("a"); n != triesA {
		t.Fatalf("cell a tried %d times while its breaker was open, want %d", n, triesA)
	}
	st := s.State()
	if st.Breaker != BreakerOpen || st.Cells["b"].Breaker != BreakerClosed || st.Cells["a"].Pending != 21 || st.Cells["b"].Pending != 0 {
		t.Fatalf("state = %+v", st)
	}

	// Cell a is back: after the cooldown a probe closes its breaker and
	// its backlog drains.
	h.setDown("a", false)
	clk.advance(time.Hour)
	waitFor(t, "cell a drained", settled(s))
	if n, _ := h.count("a"); n != 21 {
		t.Fatalf("cell a delivered %d, want 21", n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, cells := range h.batches {
		for _, c := range cells {
			if c != cells[0] {
				t.Fatalf("a batch mixed cells: %v", cells)
			}
		}
	}
}
