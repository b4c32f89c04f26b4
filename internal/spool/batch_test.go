package spool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// batcher is a BatchHandler over a recorder: a batch fails as a whole
// when any of its tasks fails, like one store transaction.
type batcher struct {
	*recorder

	mu    sync.Mutex
	sizes []int
}

func (b *batcher) HandleBatch(ctx context.Context, batch []Task) error {
	b.mu.Lock()
	b.sizes = append(b.sizes, len(batch))
	b.mu.Unlock()
	b.recorder.mu.Lock()
	fail := b.recorder.fail
	b.recorder.mu.Unlock()
	for _, t := range batch {
		if fail != nil {
			if err := fail(t.Entry, t.Rcpt); err != nil {
				return err
			}
		}
	}
	for _, t := range batch {
		b.recorder.mu.Lock()
		b.recorder.delivered = append(b.recorder.delivered, call{t.Entry.ID, t.Rcpt, t.Entry.Envelope.Recipients[t.Rcpt].Account})
		b.recorder.mu.Unlock()
	}
	return nil
}

func TestBatchKeepsOrderAndRetriesAlone(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, Options{Workers: 2, Batch: 16, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond, BreakerFailures: 1000, PollInterval: 10 * time.Millisecond})
	var fails sync.Map // envelope sender -> failures left
	h := &batcher{recorder: &recorder{fail: func(e *Entry, rcpt int) error {
		if v, ok := fails.Load(e.Envelope.From); ok && v.(*atomic.Int32).Add(-1) >= 0 {
			return errors.New("transient")
		}
		return nil
	}}}
	var want []string
	for i := range 200 {
		env := envFor(int64(i%2 + 1))
		env.From = fmt.Sprintf("sender%d@example.org", i)
		if i%13 == 0 {
			n := &atomic.Int32{}
			n.Store(1)
			fails.Store(env.From, n)
		}
		want = append(want, enqueue(t, s, env, fmt.Sprintf("Subject: %d\r\n\r\n", i)))
	}
	runLoop(t, s, h)
	waitFor(t, "spool to drain", settled(s))

	last := map[int64]string{}
	seen := map[string]int{}
	for _, c := range h.calls() {
		if c.id <= last[c.account] {
			t.Fatalf("account %d: %s delivered after %s", c.account, c.id, last[c.account])
		}
		last[c.account] = c.id
		seen[c.id]++
	}
	for _, id := range want {
		if seen[id] != 1 {
			t.Fatalf("entry %s delivered %d times, want once", id, seen[id])
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	biggest := 0
	for _, n := range h.sizes {
		biggest = max(biggest, n)
	}
	if biggest < 2 || biggest > 16 {
		t.Errorf("largest batch %d, want 2 to 16; batch sizes %v", biggest, h.sizes)
	}
	if len(h.sizes) >= len(want) {
		t.Errorf("%d handler calls for %d entries: nothing was batched", len(h.sizes), len(want))
	}
}

// TestBatchSpansAccounts checks that one batch serves the ready lanes of
// several accounts, so that a backlog spread over many mailboxes still
// drains with one commit per batch.
func TestBatchSpansAccounts(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, Options{Workers: 1, Batch: 64})
	var want []string
	for a := int64(1); a <= 6; a++ {
		for range 2 {
			want = append(want, enqueue(t, s, envFor(a), "Subject: spread\r\n\r\n"))
		}
	}
	h := &batcher{recorder: &recorder{}}
	runLoop(t, s, h)
	waitFor(t, "spool to drain", settled(s))

	h.mu.Lock()
	sizes := h.sizes
	h.mu.Unlock()
	if len(sizes) != 1 || sizes[0] != len(want) {
		t.Errorf("batch sizes %v, want one batch of %d", sizes, len(want))
	}
	last := map[int64]string{}
	for _, c := range h.calls() {
		if c.id <= last[c.account] {
			t.Errorf("account %d: %s delivered after %s", c.account, c.id, last[c.account])
		}
		last[c.account] = c.id
	}
}
