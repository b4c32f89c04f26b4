package spool

import (
	"errors"
	"testing"
	"time"
)

// A held entry waits for its hold without holding back its account's
// other mail; Unsend takes it back durably before its hold ends and is
// refused once the hold is too close to its end.
func TestHoldAndUnsend(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, Options{PollInterval: 50 * time.Millisecond})
	h := &recorder{}
	runLoop(t, s, h)

	held := envFor(1)
	held.HoldUntil = time.Now().Add(900 * time.Millisecond)
	heldID := enqueue(t, s, held, "Subject: later\r\n\r\n")
	undone := envFor(1, 2)
	undone.HoldUntil = time.Now().Add(time.Hour)
	undoneID := enqueue(t, s, undone, "Subject: never\r\n\r\n")
	plainID := enqueue(t, s, envFor(1), "Subject: now\r\n\r\n")

	waitFor(t, "the unheld entry", func() bool { return h.count() == 1 })
	if c := h.calls()[0]; c.id != plainID {
		t.Fatalf("first delivery %v, want the unheld entry %s", c, plainID)
	}
	if err := s.Unsend(t.Context(), undoneID); err != nil {
		t.Fatalf("Unsend of a held entry: %v", err)
	}
	if err := s.Unsend(t.Context(), undoneID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Unsend: %v, want ErrNotFound", err)
	}
	// Within PollInterval and a second of its release: too late.
	if err := s.Unsend(t.Context(), heldID); !errors.Is(err, ErrReleased) {
		t.Fatalf("Unsend near the end of the hold: %v, want ErrReleased", err)
	}
	if err := s.Unsend(t.Context(), plainID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Unsend of a delivered entry: %v, want ErrNotFound", err)
	}
	waitFor(t, "the held entry", func() bool { return h.count() == 2 })
	if time.Now().Before(held.HoldUntil) {
		t.Fatalf("held entry delivered before its hold ended")
	}
	if c := h.calls()[1]; c.id != heldID {
		t.Fatalf("second delivery %v, want %s", c, heldID)
	}
	waitFor(t, "spool to drain", settled(s))
	for _, c := range h.calls() {
		if c.id == undoneID {
			t.Fatalf("unsent entry delivered: %v", c)
		}
	}

	// An unheld entry cannot be unsent; the hold survives a restart.
	e := envFor(4)
	e.HoldUntil = time.Now().Add(time.Hour)
	s2 := openSpool(t, t.TempDir(), Options{})
	keep := enqueue(t, s2, e, "Subject: kept\r\n\r\n")
	got, _, err := s2.Get(t.Context(), keep)
	if err != nil || !got.Envelope.HoldUntil.Equal(e.HoldUntil) {
		t.Fatalf("hold read back: %v, %v", got.Envelope.HoldUntil, err)
	}
	unheld := enqueue(t, s2, envFor(4), "y")
	if err := s2.Unsend(t.Context(), unheld); !errors.Is(err, ErrReleased) {
		t.Fatalf("Unsend of an unheld entry: %v, want ErrReleased", err)
	}
}
