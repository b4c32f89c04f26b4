package storetest

import (
	"errors"
	"sync"
	"testing"

	"casella/internal/store"
)

// testClaimRecent checks the \Recent claim (RFC 3501 section 2.3.2): each
// UID is claimed by one caller only, however many claim at once, and the
// mark never goes down.
func testClaimRecent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	newAccount(t, s, other)
	inbox := mailbox(t, s, acct, store.Inbox)
	if inbox.RecentMark != 0 {
		t.Fatalf("new mailbox has recent mark %d", inbox.RecentMark)
	}
	appendN(t, s, acct, inbox.ID, 1, 3)
	before := mailbox(t, s, acct, store.Inbox)
	if old, err := s.ClaimRecent(ctx, acct, inbox.ID, 2); err != nil || old != 0 {
		t.Fatalf("first claim = %d, %v; want 0", old, err)
	}
	if old, err := s.ClaimRecent(ctx, acct, inbox.ID, 1); err != nil || old != 2 {
		t.Fatalf("lower claim = %d, %v; want 2", old, err)
	}
	after := mailbox(t, s, acct, store.Inbox)
	if after.RecentMark != 2 {
		t.Fatalf("recent mark %d after claims up to 2 and 1", after.RecentMark)
	}
	// A claim is not a change of the mailbox.
	if after.HighestModSeq != before.HighestModSeq {
		t.Errorf("claims moved HIGHESTMODSEQ from %d to %d", before.HighestModSeq, after.HighestModSeq)
	}

	// Concurrent claims of the same UIDs: exactly one gets each.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		olds []uint32
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			old, err := s.ClaimRecent(ctx, acct, inbox.ID, 3)
			if err != nil {
				t.Errorf("concurrent claim: %v", err)
				return
			}
			mu.Lock()
			olds = append(olds, old)
			mu.Unlock()
		}()
	}
	wg.Wait()
	winners := 0
	for _, old := range olds {
		switch old {
		case 2:
			winners++
		case 3:
		default:
			t.Errorf("concurrent claim returned mark %d", old)
		}
	}
	if winners != 1 {
		t.Errorf("%d sessions claimed UID 3, want exactly 1", winners)
	}

	if _, err := s.ClaimRecent(ctx, other, inbox.ID, 5); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("claim on another account's mailbox: %v, want ErrNotFound", err)
	}
	if _, err := s.ClaimRecent(ctx, acct, inbox.ID+1000, 5); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("claim on a missing mailbox: %v, want ErrNotFound", err)
	}
}
