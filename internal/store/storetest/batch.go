package storetest

import (
	"fmt"
	"slices"
	"testing"

	"casella/internal/store"
)

// testDeliverBatch checks that a batch is stored in order in one
// transaction, that keys delivered before are reported as duplicates
// inside a batch, and that an invalid batch stores nothing.
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

	// An invalid batch stores nothing, not even its valid deliveries
	// before the invalid one.
	bad := []store.Delivery{
		{Key: "b-6", Account: acct, Message: msg(6)},
		{Key: "b-7", Account: other, Message: msg(7)},
	}
	if _, err := s.DeliverBatch(ctx, bad); err == nil {
		t.Errorf("DeliverBatch of two accounts succeeded")
	}
	bad[1] = store.Delivery{Key: "", Account: acct, Message: msg(7)}
	if _, err := s.DeliverBatch(ctx, bad); err == nil {
		t.Errorf("DeliverBatch with an empty key succeeded")
	}
	if after := mailbox(t, s, acct, store.Inbox); after != inbox {
		t.Errorf("failed batches changed INBOX: %+v, was %+v", after, inbox)
	}
	if res, err := s.DeliverBatch(ctx, nil); err != nil || len(res) != 0 {
		t.Errorf("empty batch: %v, %v", res, err)
	}
	checkCounts(t, s, acct)
}
