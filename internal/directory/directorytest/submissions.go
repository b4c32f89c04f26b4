package directorytest

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"casella/internal/directory"
)

// testSubmissions checks directories that keep submission records
// (directory.Submissions); it is skipped for those that do not.
func testSubmissions(t *testing.T, ctx context.Context, d directory.Directory) {
	ss, ok := d.(directory.Submissions)
	if !ok {
		t.Skip("the directory keeps no submission records")
	}
	addDomain(t, ctx, d, "example.com")
	ann := addAccount(t, ctx, d, "ann@example.com")
	bob := addAccount(t, ctx, d, "bob@example.com")

	if l, state, err := ss.Submissions(ctx, ann.ID); err != nil || len(l) != 0 || state != 0 {
		t.Fatalf("no submissions: %v %d %v", l, state, err)
	}
	now := time.Now().Truncate(time.Millisecond)
	add := func(id string, sendAt time.Time, status string) directory.Submission {
		t.Helper()
		s, err := ss.AddSubmission(ctx, ann.ID, directory.Submission{ID: id, IdentityID: "I1", EmailID: "E" + id, ThreadID: "T1",
			Envelope: []byte(`{"mailFrom":{"email":"ann@example.com"}}`), SendAt: sendAt, UndoStatus: status, Queued: []string{"inbound/a", "outbound/b"}})
		must(t, err)
		return s
	}
	s1 := add("S1", now, directory.UndoFinal)
	s2 := add("S2", now.Add(time.Hour), directory.UndoPending)
	s3 := add("S3", now.Add(-time.Second), directory.UndoPending)
	if !(s1.ModSeq < s2.ModSeq && s2.ModSeq < s3.ModSeq) {
		t.Fatalf("modseqs not increasing: %d %d %d", s1.ModSeq, s2.ModSeq, s3.ModSeq)
	}
	if _, err := ss.AddSubmission(ctx, ann.ID, directory.Submission{ID: "S1", UndoStatus: directory.UndoFinal}); err == nil {
		t.Fatal("a second record with id S1 was stored")
	}

	l, state, err := ss.Submissions(ctx, ann.ID)
	must(t, err)
	if st, next, err := ss.SubmissionState(ctx, ann.ID); err != nil || st != state || !next.Equal(s3.SendAt) {
		t.Fatalf("SubmissionState: %d %v %v, want %d %v", st, next, err, state, s3.SendAt)
	}
	if st, next, err := ss.SubmissionState(ctx, bob.ID); err != nil || st != 0 || !next.IsZero() {
		t.Fatalf("SubmissionState of bob: %d %v %v", st, next, err)
	}
	if len(l) != 3 || state != s3.ModSeq || !l[1].SendAt.Equal(s2.SendAt) || !slices.Equal(l[1].Queued, s2.Queued) || string(l[1].Envelope) != string(s2.Envelope) {
		t.Fatalf("submissions %+v state %d", l, state)
	}
	if l, state, err := ss.Submissions(ctx, bob.ID); err != nil || len(l) != 0 || state != 0 {
		t.Fatalf("bob sees ann's submissions: %v %d %v", l, state, err)
	}

	// Settling makes only the due pending record final.
	if due, err := ss.SettleSubmissions(ctx, ann.ID, now); err != nil || !due {
		t.Fatalf("settle: %v %v", due, err)
	}
	if due, err := ss.SettleSubmissions(ctx, ann.ID, now); err != nil || due {
		t.Fatalf("settle again: %v %v", due, err)
	}
	ch, state2, err := ss.SubmissionChanges(ctx, ann.ID, state)
	must(t, err)
	if len(ch) != 1 || ch[0].ID != "S3" || ch[0].Created || ch[0].Destroyed || state2 != state+1 {
		t.Fatalf("changes after settling: %+v %d", ch, state2)
	}

	// Cancel is conditional on the status.
	wantErr(t, ss.SetUndoStatus(ctx, ann.ID, "S3", directory.UndoPending, directory.UndoCanceled), directory.ErrInUse, "cancel a final one")
	wantErr(t, ss.SetUndoStatus(ctx, ann.ID, "S9", directory.UndoPending, directory.UndoCanceled), directory.ErrNotFound, "cancel an unknown one")
	wantErr(t, ss.SetUndoStatus(ctx, bob.ID, "S2", directory.UndoPending, directory.UndoCanceled), directory.ErrNotFound, "cancel another's")
	must(t, ss.SetUndoStatus(ctx, ann.ID, "S2", directory.UndoPending, directory.UndoCanceled))

	must(t, ss.DestroySubmission(ctx, ann.ID, "S1"))
	wantErr(t, ss.DestroySubmission(ctx, ann.ID, "S1"), directory.ErrNotFound, "destroy twice")
	s4 := add("S4", now, directory.UndoFinal)
	ch, state3, err := ss.SubmissionChanges(ctx, ann.ID, state2)
	must(t, err)
	want := []directory.Change{{ID: "S2", ModSeq: state2 + 1}, {ID: "S1", ModSeq: state2 + 2, Destroyed: true}, {ID: "S4", ModSeq: s4.ModSeq, Created: true}}
	if !slices.Equal(ch, want) || state3 != s4.ModSeq {
		t.Fatalf("changes: %+v %d, want %+v", ch, state3, want)
	}
	l, _, err = ss.Submissions(ctx, ann.ID)
	must(t, err)
	if len(l) != 3 || l[0].ID != "S2" || l[0].UndoStatus != directory.UndoCanceled || l[1].UndoStatus != directory.UndoFinal {
		t.Fatalf("after changes: %+v", l)
	}

	// Delivery statuses: a change raises the state, the same status
	// again does not, an address not listed is added.
	queued := directory.DeliveryStatus{Delivered: directory.DeliveredQueued, SMTPReply: "250 2.0.0 Queued"}
	s6, err := ss.AddSubmission(ctx, ann.ID, directory.Submission{ID: "S6", UndoStatus: directory.UndoFinal, SendAt: now,
		DeliveryStatus: map[string]directory.DeliveryStatus{"cat@example.com": queued, "dan@elsewhere.test": queued}})
	must(t, err)
	yes := directory.DeliveryStatus{Delivered: directory.DeliveredYes, SMTPReply: "250 2.0.0 Ok: queued as 12"}
	must(t, ss.SetDeliveryStatus(ctx, ann.ID, "S6", "dan@elsewhere.test", yes))
	must(t, ss.SetDeliveryStatus(ctx, ann.ID, "S6", "dan@elsewhere.test", yes))
	ch, st6, err := ss.SubmissionChanges(ctx, ann.ID, s6.ModSeq)
	must(t, err)
	if len(ch) != 1 || ch[0].ID != "S6" || ch[0].Created || st6 != s6.ModSeq+1 {
		t.Fatalf("changes after a delivery status: %+v %d, want S6 once at %d", ch, st6, s6.ModSeq+1)
	}
	no := directory.DeliveryStatus{Delivered: directory.DeliveredNo, SMTPReply: "550 5.1.1 No such user"}
	must(t, ss.SetDeliveryStatus(ctx, ann.ID, "S6", "eve@elsewhere.test", no))
	l, _, err = ss.Submissions(ctx, ann.ID)
	must(t, err)
	want6 := map[string]directory.DeliveryStatus{"cat@example.com": queued, "dan@elsewhere.test": yes, "eve@elsewhere.test": no}
	if i := slices.IndexFunc(l, func(s directory.Submission) bool { return s.ID == "S6" }); i < 0 || !maps.Equal(l[i].DeliveryStatus, want6) {
		t.Fatalf("delivery status of S6 in %+v, want %v", l, want6)
	}
	if l[0].ID != "S2" || l[0].DeliveryStatus != nil {
		t.Fatalf("a record made without delivery status has %v", l[0].DeliveryStatus)
	}
	wantErr(t, ss.SetDeliveryStatus(ctx, bob.ID, "S6", "dan@elsewhere.test", no), directory.ErrNotFound, "status of another's")
	must(t, ss.DestroySubmission(ctx, ann.ID, "S6"))
	wantErr(t, ss.SetDeliveryStatus(ctx, ann.ID, "S6", "dan@elsewhere.test", no), directory.ErrNotFound, "status of a destroyed one")

	// Records go with their account.
	_, err = d.RemoveAccount(ctx, "ann@example.com")
	must(t, err)
	if l, _, err := ss.Submissions(ctx, ann.ID); err != nil || len(l) != 0 {
		t.Fatalf("records of a removed account: %v %v", l, err)
	}
	if _, err := ss.AddSubmission(ctx, ann.ID, directory.Submission{ID: "S5"}); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("record for a removed account: %v", err)
	}
}

// testSubmissionExpiry checks ExpireSubmissions: finished records past
// the cutoff become tombstones that /changes reports, and those
// tombstones go at a later expiry, after which changes since a state
// before them are refused; the state never goes back, also when every
// row of an account went. A directory that tells of changes (JMAP push)
// wakes the watch of each account whose records expiry destroyed, and
// of no other.
func testSubmissionExpiry(t *testing.T, ctx context.Context, d directory.Directory) {
	ss, ok := d.(directory.Submissions)
	if !ok {
		t.Skip("the directory keeps no submission records")
	}
	addDomain(t, ctx, d, "example.com")
	ann := addAccount(t, ctx, d, "ann@example.com")
	bob := addAccount(t, ctx, d, "bob@example.com")
	now := time.Now().Truncate(time.Millisecond)
	add := func(acct directory.Account, id string, sendAt time.Time, status string) directory.Submission {
		t.Helper()
		s, err := ss.AddSubmission(ctx, acct.ID, directory.Submission{ID: id, IdentityID: "I1", EmailID: "E" + id, ThreadID: "T1",
			Envelope: []byte(`{}`), SendAt: sendAt, UndoStatus: status, Queued: []string{"outbound/a"}})
		must(t, err)
		return s
	}
	add(ann, "S1", now.Add(-2*time.Hour), directory.UndoFinal)
	add(ann, "S2", now.Add(-2*time.Hour), directory.UndoCanceled)
	add(ann, "S3", now.Add(-2*time.Hour), directory.UndoPending) // left, not settled yet
	add(ann, "S5", now.Add(time.Hour), directory.UndoPending)    // held
	add(ann, "S4", now, directory.UndoFinal)
	b1 := add(bob, "B1", now.Add(-2*time.Hour), directory.UndoFinal)
	_, state0, err := ss.Submissions(ctx, ann.ID)
	must(t, err)
	// Carol keeps no records; on PostgreSQL, the notifications of
	// ann's and bob's additions above may still be on their way.
	carol := addAccount(t, ctx, d, "carol@example.com")
	w, watched := d.(directory.RecordWatch)
	var woken [3]<-chan struct{}
	if watched {
		for i, a := range []directory.Account{ann, bob, carol} {
			ch, stop := w.WatchRecords(a.ID)
			defer stop()
			woken[i] = ch
		}
	}

	destroyed, removed, err := ss.ExpireSubmissions(ctx, now.Add(-time.Hour))
	if err != nil || destroyed != 4 || removed != 0 {
		t.Fatalf("first expiry: %d destroyed, %d removed, %v; want 4, 0", destroyed, removed, err)
	}
	if watched {
		for i, name := range []string{"ann", "bob"} {
			select {
			case <-woken[i]:
			case <-time.After(10 * time.Second):
				t.Errorf("expiry destroyed %s's records and did not wake the account's watch", name)
			}
		}
		select {
		case <-woken[2]:
			t.Error("expiry destroyed none of carol's records and woke her watch")
		case <-time.After(100 * time.Millisecond):
		}
	}
	ch, state1, err := ss.SubmissionChanges(ctx, ann.ID, state0)
	must(t, err)
	want := []directory.Change{{ID: "S1", ModSeq: state0 + 1, Destroyed: true}, {ID: "S2", ModSeq: state0 + 2, Destroyed: true},
		{ID: "S3", ModSeq: state0 + 3, Destroyed: true}}
	if !slices.Equal(ch, want) || state1 != state0+3 {
		t.Fatalf("changes after expiry: %+v %d, want %+v %d", ch, state1, want, state0+3)
	}
	l, _, err := ss.Submissions(ctx, ann.ID)
	must(t, err)
	if len(l) != 2 || l[0].ID != "S5" || l[1].ID != "S4" {
		t.Fatalf("records after expiry: %+v", l)
	}

	// A later expiry removes those tombstones (destroyed before its
	// cutoff) and makes S4 one, which stays for the next.
	destroyed, removed, err = ss.ExpireSubmissions(ctx, time.Now().Add(time.Minute))
	if err != nil || destroyed != 1 || removed != 4 {
		t.Fatalf("second expiry: %d destroyed, %d removed, %v; want 1, 4", destroyed, removed, err)
	}
	wantErr(t, func() error { _, _, err := ss.SubmissionChanges(ctx, ann.ID, state0); return err }(), directory.ErrChangesExpired,
		"changes since a state before removed tombstones")
	ch, state2, err := ss.SubmissionChanges(ctx, ann.ID, state1)
	must(t, err)
	if len(ch) != 1 || ch[0].ID != "S4" || !ch[0].Destroyed || state2 != state1+1 {
		t.Fatalf("changes since the first expiry: %+v %d", ch, state2)
	}

	// Bob's only row went: his state stays, and the next record is
	// newer.
	if st, next, err := ss.SubmissionState(ctx, bob.ID); err != nil || st != b1.ModSeq+1 || !next.IsZero() {
		t.Fatalf("bob's state after his rows went: %d %v %v, want %d", st, next, err, b1.ModSeq+1)
	}
	if b2 := add(bob, "B2", now, directory.UndoFinal); b2.ModSeq != b1.ModSeq+2 {
		t.Fatalf("bob's next record has modseq %d, want %d", b2.ModSeq, b1.ModSeq+2)
	}
	if ch, _, err := ss.SubmissionChanges(ctx, bob.ID, b1.ModSeq+1); err != nil || len(ch) != 1 || ch[0].ID != "B2" {
		t.Fatalf("bob's changes since his last state: %+v %v", ch, err)
	}

	// Expiry has nothing more to do; an account with a horizon can be
	// removed.
	if destroyed, removed, err = ss.ExpireSubmissions(ctx, now.Add(-time.Hour)); err != nil || destroyed != 0 || removed != 0 {
		t.Fatalf("idle expiry: %d destroyed, %d removed, %v", destroyed, removed, err)
	}
	_, err = d.RemoveAccount(ctx, "bob@example.com")
	must(t, err)
}
