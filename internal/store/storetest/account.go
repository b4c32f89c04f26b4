package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"casella/internal/blob"
	"casella/internal/store"
)

func testBlobs(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	newAccount(t, s, other)
	inbox := mailbox(t, s, acct, store.Inbox)
	appendN(t, s, acct, inbox.ID, 1, 3)
	appendN(t, s, other, mailbox(t, s, other, store.Inbox).ID, 2, 2) // shares msg(2)'s and msg(3)'s blobs
	if _, err := s.Copy(ctx, acct, inbox.ID, nil, mailbox(t, s, acct, "Archive").ID); err != nil {
		t.Fatal(err)
	}
	var got []blob.Key
	if err := s.Blobs(ctx, func(k blob.Key) error { got = append(got, k); return nil }); err != nil {
		t.Fatal(err)
	}
	var want []blob.Key
	for i := 1; i <= 3; i++ {
		want = append(want, msg(i).Blob)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Blobs = %v, want each of %v once", got, want)
	}
	for _, k := range want {
		if ok, err := s.BlobReferenced(ctx, k); err != nil || !ok {
			t.Errorf("BlobReferenced(%s) = %v, %v", k, ok, err)
		}
	}
	unknown := blob.KeyOf([]byte("nobody has this"))
	if ok, err := s.BlobReferenced(ctx, unknown); err != nil || ok {
		t.Errorf("BlobReferenced(unknown) = %v, %v", ok, err)
	}
	// Once every message referring to a blob is gone, it is unreferenced.
	if err := s.DeleteAccount(ctx, other); err != nil {
		t.Fatal(err)
	}
	update(t, s, store.FlagUpdate{Mailbox: inbox.ID, Op: store.FlagsAdd, Flags: []string{store.FlagDeleted}})
	if _, err := s.Expunge(ctx, acct, inbox.ID, nil); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.BlobReferenced(ctx, msg(1).Blob); !ok {
		t.Errorf("blob of a copy still in Archive reported unreferenced")
	}
	if err := s.DeleteMailbox(ctx, acct, "Archive"); err != nil {
		t.Fatal(err)
	}
	for _, k := range want {
		if ok, err := s.BlobReferenced(ctx, k); err != nil || ok {
			t.Errorf("BlobReferenced(%s) after removal = %v, %v", k, ok, err)
		}
	}
	stop := errors.New("stop")
	appendN(t, s, acct, inbox.ID, 1, 3)
	n := 0
	if err := s.Blobs(ctx, func(blob.Key) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("Blobs after fn error: %v, %d calls", err, n)
	}
}

func testConcurrentDeliver(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	const workers, each = 8, 10
	var wg sync.WaitGroup
	results := make([][]store.Delivered, workers)
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Every key is delivered twice, from two goroutines.
				n := (w/2)*each + i
				d, err := s.Deliver(ctx, store.Delivery{Key: fmt.Sprintf("key-%d", n), Account: acct, Message: msg(n)})
				if err != nil {
					errs[w] = err
					return
				}
				results[w] = append(results[w], d)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Deliver: %v", err)
		}
	}
	const distinct = workers / 2 * each
	byKey := map[int]uint32{}
	dups := 0
	for w, l := range results {
		for i, d := range l {
			n := (w/2)*each + i
			if u, ok := byKey[n]; ok && u != d.UID {
				t.Errorf("key %d delivered as UIDs %d and %d", n, u, d.UID)
			}
			byKey[n] = d.UID
			if d.Duplicate {
				dups++
			}
		}
	}
	if dups != distinct {
		t.Errorf("%d duplicates reported, want %d", dups, distinct)
	}
	uids := uidsOf(list(t, s, acct, mailbox(t, s, acct, store.Inbox).ID))
	want := make([]uint32, distinct)
	for i := range want {
		want[i] = uint32(i + 1)
	}
	if !slices.Equal(uids, want) {
		t.Errorf("UIDs %v, want 1..%d", uids, distinct)
	}
	if mb := mailbox(t, s, acct, store.Inbox); mb.UIDNext != distinct+1 || mb.Messages != distinct {
		t.Errorf("INBOX after concurrent delivery: %+v", mb)
	}
	checkCounts(t, s, acct)
}

func testDeleteAccount(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if err := s.DeleteAccount(ctx, acct); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteAccount of a missing account: %v", err)
	}
	newAccount(t, s, acct)
	newAccount(t, s, other)
	inbox := mailbox(t, s, acct, store.Inbox)
	appendN(t, s, acct, inbox.ID, 1, 3)
	appendN(t, s, other, mailbox(t, s, other, store.Inbox).ID, 10, 2)
	if _, err := s.Deliver(ctx, store.Delivery{Key: "k", Account: acct, Message: msg(5)}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mailboxes(ctx, acct); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Mailboxes after delete: %v", err)
	}
	if _, err := s.Usage(ctx, acct); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Usage after delete: %v", err)
	}
	if err := s.Messages(ctx, acct, store.Query{Mailbox: inbox.ID}, func(*store.Message) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Messages after delete: %v", err)
	}
	if ok, _ := s.BlobReferenced(ctx, msg(1).Blob); ok {
		t.Errorf("deleted account's blob still referenced")
	}
	// The other account is untouched.
	checkCounts(t, s, other)
	if u, _ := s.Usage(ctx, other); u.Messages != 2 {
		t.Errorf("other account's usage %+v", u)
	}
	// The account can be created again, empty, and its delivery keys are
	// forgotten.
	newAccount(t, s, acct)
	if mb := mailbox(t, s, acct, store.Inbox); mb.Messages != 0 || mb.ID == inbox.ID {
		t.Errorf("re-created INBOX %+v", mb)
	}
	d, err := s.Deliver(ctx, store.Delivery{Key: "k", Account: acct, Message: msg(5)})
	if err != nil || d.Duplicate {
		t.Errorf("delivery to the re-created account: %+v, %v", d, err)
	}
	checkCounts(t, s, acct)
}

// testIsolation checks that a mailbox ID of one account is not usable
// through another account: every method fails with ErrNotFound and
// nothing changes.
func testIsolation(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	newAccount(t, s, other)
	victim := mailbox(t, s, other, store.Inbox)
	appendN(t, s, other, victim.ID, 1, 3)
	before := mailbox(t, s, other, store.Inbox)
	mine := mailbox(t, s, acct, store.Inbox)
	all := []store.UIDRange{{First: 1, Last: 0}}
	checks := map[string]error{}
	checks["Messages"] = s.Messages(ctx, acct, store.Query{Mailbox: victim.ID}, func(*store.Message) error { return nil })
	_, checks["UIDs"] = s.UIDs(ctx, acct, victim.ID)
	_, checks["Append"] = s.Append(ctx, acct, victim.ID, []store.NewMessage{msg(9)})
	_, checks["UpdateFlags"] = s.UpdateFlags(ctx, acct, store.FlagUpdate{Mailbox: victim.ID, UIDs: all, Op: store.FlagsAdd, Flags: []string{store.FlagDeleted}})
	_, checks["Expunge"] = s.Expunge(ctx, acct, victim.ID, nil)
	_, checks["Copy from"] = s.Copy(ctx, acct, victim.ID, all, mine.ID)
	_, checks["Copy to"] = s.Copy(ctx, acct, mine.ID, all, victim.ID)
	_, checks["Move from"] = s.Move(ctx, acct, victim.ID, all, mine.ID)
	_, checks["Move to"] = s.Move(ctx, acct, mine.ID, all, victim.ID)
	_, _, checks["Changes"] = s.Changes(ctx, acct, victim.ID, 0, 0)
	for name, err := range checks {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s on another account's mailbox: %v, want ErrNotFound", name, err)
		}
	}
	after := mailbox(t, s, other, store.Inbox)
	if after != before {
		t.Errorf("victim mailbox changed: %+v", after)
	}
	if len(list(t, s, acct, mine.ID)) != 0 {
		t.Errorf("messages leaked into the attacker's mailbox")
	}
	checkCounts(t, s, acct)
	checkCounts(t, s, other)
}

// testMessagesWithBlob checks that an account's messages are found by
// their blob, every copy of them and none of another account's.
func testMessagesWithBlob(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	newAccount(t, s, other)
	inbox := mailbox(t, s, acct, store.Inbox)
	archive := mailbox(t, s, acct, "Archive")
	appendN(t, s, acct, inbox.ID, 1, 3)
	appendN(t, s, other, mailbox(t, s, other, store.Inbox).ID, 2, 2) // msg(2) and msg(3)
	if _, err := s.Copy(ctx, acct, inbox.ID, []store.UIDRange{{First: 2, Last: 2}}, archive.ID); err != nil {
		t.Fatal(err)
	}
	var want []store.Message
	for _, mb := range []int64{inbox.ID, archive.ID} {
		if err := s.Messages(ctx, acct, store.Query{Mailbox: mb}, func(m *store.Message) error {
			if m.Blob == msg(2).Blob {
				want = append(want, *m)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortFunc(want, func(a, b store.Message) int { return int(a.ID - b.ID) })
	got, err := s.MessagesWithBlob(ctx, acct, msg(2).Blob)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 2 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("MessagesWithBlob = %+v\nwant %+v", got, want)
	}
	if got[0].EmailID != got[1].EmailID || got[0].ThreadID == 0 {
		t.Errorf("copies of one message: email ids %d, %d, thread %d", got[0].EmailID, got[1].EmailID, got[0].ThreadID)
	}
	if got, err := s.MessagesWithBlob(ctx, acct, blob.KeyOf([]byte("nobody has this"))); err != nil || len(got) != 0 {
		t.Errorf("MessagesWithBlob(unknown) = %v, %v", got, err)
	}
	// The other account's copy is its own: it does not see acct's.
	if got, err := s.MessagesWithBlob(ctx, other, msg(1).Blob); err != nil || len(got) != 0 {
		t.Errorf("MessagesWithBlob of a blob only acct has, for other = %v, %v", got, err)
	}
	if got, err := s.MessagesWithBlob(ctx, other, msg(2).Blob); err != nil || len(got) != 1 || got[0].Mailbox == inbox.ID || got[0].Mailbox == archive.ID {
		t.Errorf("MessagesWithBlob for other = %+v, %v", got, err)
	}
	// Expunged, a message is no longer found.
	update(t, s, store.FlagUpdate{Mailbox: archive.ID, Op: store.FlagsAdd, Flags: []string{store.FlagDeleted}})
	if _, err := s.Expunge(ctx, acct, archive.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := s.MessagesWithBlob(ctx, acct, msg(2).Blob); err != nil || len(got) != 1 || got[0].Mailbox != inbox.ID {
		t.Errorf("MessagesWithBlob after expunge = %+v, %v", got, err)
	}
}
