package directorytest

import (
	"context"
	"testing"
	"time"

	"casella/internal/directory"
)

// testSieveMemory checks the records of vacation and duplicate
// (directory.SieveMemory): one holder until expiry, a replay by the
// holder sees its own record as its own, and refresh extends without
// changing the holder.
func testSieveMemory(t *testing.T, ctx context.Context, d directory.Directory) {
	m, ok := d.(directory.SieveMemory)
	if !ok {
		t.Skip("the directory keeps no Sieve records")
	}
	addDomain(t, ctx, d, "example.com")
	a := addAccount(t, ctx, d, "ann@example.com")
	b := addAccount(t, ctx, d, "bob@example.com")
	t0 := time.Unix(1_800_000_000, 0)
	claim := func(acct directory.Account, key, owner string, at time.Time, refresh bool) bool {
		t.Helper()
		ok, err := m.ClaimSieveRecord(ctx, acct.ID, "vacation", key, owner, at, at.Add(time.Hour), refresh)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	held := func(acct directory.Account, key, owner string, at time.Time) bool {
		t.Helper()
		ok, err := m.SieveRecordHeld(ctx, acct.ID, "vacation", key, owner, at)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if held(a, "k", "d1", t0) {
		t.Error("held before any claim")
	}
	if !claim(a, "k", "d1", t0, false) {
		t.Fatal("first claim lost")
	}
	if !claim(a, "k", "d1", t0.Add(time.Minute), false) {
		t.Error("the holder's replay lost its own claim")
	}
	if claim(a, "k", "d2", t0.Add(time.Minute), false) {
		t.Error("a second owner took an unexpired record")
	}
	if !held(a, "k", "d2", t0.Add(time.Minute)) || held(a, "k", "d1", t0.Add(time.Minute)) {
		t.Error("held: want true for another owner, false for the holder")
	}
	if claim(b, "k", "d3", t0, false) == false {
		t.Error("another account's record got in the way")
	}
	if m.ClaimSieveRecord(ctx, a.ID, "duplicate", "k", "d4", t0, t0.Add(time.Hour), false); !held(a, "k", "d2", t0) {
		t.Error("a record of another kind replaced this one")
	}
	// The holder's replay at minute one moved the expiry to 1h01m;
	// refreshing at 1h extends it to 2h, the holder unchanged.
	if claim(a, "k", "d5", t0.Add(time.Hour), true) {
		t.Error("refresh changed the holder")
	}
	if !held(a, "k", "d5", t0.Add(time.Hour+30*time.Minute)) {
		t.Error("refresh did not extend the record")
	}
	if !claim(a, "k", "d6", t0.Add(2*time.Hour), false) {
		t.Error("an expired record was not taken over")
	}
	if held(a, "k", "d6", t0.Add(2*time.Hour)) {
		t.Error("the new holder sees its record as another's")
	}
}
