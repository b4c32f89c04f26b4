package quota

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"casella/internal/spool"
)

func TestReserve(t *testing.T) {
	tr := NewTracker(0.10)
	if got := tr.Limit(1000); got != 1100 {
		t.Fatalf("Limit(1000) = %d, want 1100", got)
	}
	// The message that crosses the line may pass it by the grace.
	if !tr.Reserve(1, 1000, 900, 150) {
		t.Fatal("a message crossing the quota within the grace refused")
	}
	if !tr.Full(1, 1000, 900) {
		t.Fatal("account with usage and messages in flight past its quota not full")
	}
	if tr.Reserve(1, 1000, 900, 1) {
		t.Fatal("reserved past a full account")
	}
	if tr.Reserve(2, 1000, 0, 1101) {
		t.Fatal("a message larger than quota and grace reserved")
	}
	if !tr.Reserve(2, 0, 1<<40, 1<<30) {
		t.Fatal("an account without quota refused")
	}
	tr.Release(1, 150)
	if tr.Full(1, 1000, 900) {
		t.Fatal("still full after release")
	}
	// Releasing what was never reserved, as after a restart, leaves
	// nothing negative behind.
	tr.Release(3, 500)
	if !tr.Full(3, 1000, 1000) || tr.Full(3, 1000, 999) {
		t.Fatal("a release of unreserved bytes changed the account's room")
	}
	if !tr.Fits(1000, 1000, 100) || tr.Fits(1000, 1000, 101) || !tr.Fits(0, 5000, 5000) {
		t.Fatal("Fits disagrees with quota and grace")
	}
}

// Concurrent senders cannot all squeeze in: the check and the reservation
// are one step.
func TestReserveConcurrent(t *testing.T) {
	tr := NewTracker(0.10)
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if tr.Reserve(1, 2500, 0, 1000) {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if n := ok.Load(); n != 2 {
		t.Fatalf("%d of 100 concurrent 1000-byte messages reserved in 2500 bytes, want 2", n)
	}
}

// After a restart the spool's backlog counts again: an account whose
// waiting mail fills its quota is full before anything is delivered.
func TestReserveBacklog(t *testing.T) {
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool"), spool.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	msg := []byte(strings.Repeat("x", 1000))
	for range 3 {
		env := spool.Envelope{From: "a@remote.test", Recipients: []spool.Recipient{
			{Address: "u@example.test", Account: 1},
			{Address: "r@remote.test"},
		}}
		if _, err := sp.Enqueue(context.Background(), env, msg); err != nil {
			t.Fatal(err)
		}
	}
	tr := NewTracker(0.10)
	n, err := tr.ReserveBacklog(context.Background(), sp)
	if err != nil || n != 3 {
		t.Fatalf("ReserveBacklog = %d, %v; want 3 recipients", n, err)
	}
	if !tr.Full(1, 3000, 0) || tr.Full(1, 3001, 0) || tr.Full(2, 1, 0) {
		t.Fatal("the backlog is not what the tracker counts")
	}
	for range 3 {
		tr.Release(1, 1000)
	}
	if tr.Full(1, 1, 0) {
		t.Fatal("delivering the backlog did not release it")
	}
}
