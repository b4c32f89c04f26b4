package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"casella/internal/store"
)

// testDeliverBatch checks that a batch is stored in order in one
// transaction, that keys delivered before are reported as duplicates
// inside a batch, that one batch may serve several accounts, and that an
// invalid batch stores nothing.
func testDeliverBatch(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	if _, err := s.Deliver(ctx, store.Delivery{Key: "b-1", Account: acct, Message: msg(1)}); err != nil {
		t.Fatal(err)
	}
	var batch []store.Delivery
	for i := 1; i <= 5; i++ {
		batch = append(batch, store.Delivery{Key: fmt.Sprintf("b-%d", i), Account: acct, Message: msg(i)})
	}
	res, err := s.DeliverBatch(ctx, batch)
	if err != nil {
		t.Fatalf("DeliverBatch: %v", err)
	}
	if len(res) != len(batch) {
		t.Fatalf("DeliverBatch returned %d results for %d deliveries", len(res), len(batch))
	}
	if !res[0].Duplicate || res[0].UID != 1 {
		t.Errorf("key delivered before: %+v, want a duplicate of UID 1", res[0])
	}
	for i, r := range res[1:] {
		if r.Duplicate || r.UID != uint32(i+2) {
			t.Errorf("delivery %d: %+v, want UID %d", i+1, r, i+2)
		}
	}
	inbox := mailbox(t, s, acct, store.Inbox)
	if got := uidsOf(list(t, s, acct, inbox.ID)); !slices.Equal(got, []uint32{1, 2, 3, 4, 5}) {
		t.Errorf("UIDs after the batch: %v", got)
	}

	// Two accounts interleaved: each gets its own in order, and the keys
	// are per account.
	mixed := []store.Delivery{
		{Key: "m-1", Account: other, Message: msg(11)},
		{Key: "m-1", Account: acct, Message: msg(6)},
		{Key: "m-2", Account: other, Message: msg(12)},
		{Key: "m-2", Account: acct, Message: msg(7)},
	}
	res, err = s.DeliverBatch(ctx, mixed)
	if err != nil {
		t.Fatalf("DeliverBatch of two accounts: %v", err)
	}
	for i, want := range []uint32{1, 6, 2, 7} {
		if res[i].Duplicate || res[i].UID != want {
			t.Errorf("mixed delivery %d: %+v, want UID %d", i, res[i], want)
		}
	}
	otherInbox := mailbox(t, s, other, store.Inbox)
	if got := list(t, s, other, otherInbox.ID); len(got) != 2 || got[0].Blob != msg(11).Blob || got[1].Blob != msg(12).Blob {
		t.Errorf("the other account's messages after the mixed batch: %+v", got)
	}
	inbox = mailbox(t, s, acct, store.Inbox)

	// An invalid batch stores nothing, not even its valid deliveries
	// before the invalid one, nor those of another account.
	bad := []store.Delivery{
		{Key: "b-8", Account: other, Message: msg(8)},
		{Key: "b-9", Account: acct, Message: msg(9)},
		{Key: "", Account: acct, Message: msg(10)},
	}
	if _, err := s.DeliverBatch(ctx, bad); err == nil {
		t.Errorf("DeliverBatch with an empty key succeeded")
	}
	if after := mailbox(t, s, acct, store.Inbox); after != inbox {
		t.Errorf("failed batches changed INBOX: %+v, was %+v", after, inbox)
	}
	if after := mailbox(t, s, other, store.Inbox); after != otherInbox {
		t.Errorf("failed batches changed the other account's INBOX: %+v, was %+v", after, otherInbox)
	}
	if res, err := s.DeliverBatch(ctx, nil); err != nil || len(res) != 0 {
		t.Errorf("empty batch: %v, %v", res, err)
	}
	checkCounts(t, s, acct)
	checkCounts(t, s, other)
}

// testPruneDeliveries checks that pruning forgets the delivery keys
// recorded before the cutoff, of every account and in more than one chunk
// of whatever size an implementation uses, and keeps the later ones.
func testPruneDeliveries(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	newAccount(t, s, other)
	const n = 2500
	for start := 0; start < n; start += 500 {
		var batch []store.Delivery
		for i := start; i < start+500; i++ {
			batch = append(batch, store.Delivery{Key: fmt.Sprintf("p-%d", i), Account: acct, Message: msg(i%7 + 1)})
		}
		if _, err := s.DeliverBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Deliver(ctx, store.Delivery{Key: "p-0", Account: other, Message: msg(1)}); err != nil {
		t.Fatal(err)
	}
	again := func(acct store.Account, key string) store.Delivered {
		t.Helper()
		d, err := s.Deliver(ctx, store.Delivery{Key: key, Account: acct, Message: msg(2)})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	if got, err := s.PruneDeliveries(ctx, time.Now().Add(-time.Hour)); err != nil || got != 0 {
		t.Fatalf("PruneDeliveries before every key: %d, %v; want 0", got, err)
	}
	if d := again(acct, "p-1"); !d.Duplicate {
		t.Errorf("a key younger than the cutoff was forgotten: %+v", d)
	}

	// Keys are recorded at a second's precision at most.
	if got, err := s.PruneDeliveries(ctx, time.Now().Add(2*time.Second)); err != nil || got != n+1 {
		t.Fatalf("PruneDeliveries after every key: %d, %v; want %d", got, err, n+1)
	}
	for _, k := range []struct {
		acct store.Account
		key  string
	}{{acct, "p-1"}, {acct, fmt.Sprintf("p-%d", n-1)}, {other, "p-0"}} {
		if d := again(k.acct, k.key); d.Duplicate {
			t.Errorf("account %d key %s still known after pruning: %+v", k.acct, k.key, d)
		}
	}
	if d := again(acct, "p-1"); !d.Duplicate {
		t.Errorf("a key delivered after pruning is not known: %+v", d)
	}
	checkCounts(t, s, acct)
}
