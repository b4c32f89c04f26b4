package directorytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"casella/internal/directory"
)

// sieveAccounts gives the scripts of d, skipping the test when it keeps
// none, and two accounts, ann and bob.
func sieveAccounts(t *testing.T, ctx context.Context, d directory.Directory) (directory.SieveScripts, directory.Account, directory.Account) {
	t.Helper()
	ss, ok := d.(directory.SieveScripts)
	if !ok {
		t.Skip("the directory keeps no Sieve scripts")
	}
	if _, err := d.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	a, err := d.AddAccount(ctx, "ann@example.com", "secret-pw-1", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.AddAccount(ctx, "bob@example.com", "secret-pw-2", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	return ss, a, b
}

// testSieveScripts checks directories that keep Sieve scripts
// (directory.SieveScripts); it is skipped for those that do not.
func testSieveScripts(t *testing.T, ctx context.Context, d directory.Directory) {
	ss, a, b := sieveAccounts(t, ctx, d)
	if _, _, err := ss.ActiveSieveScript(ctx, a.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("active before any: %v", err)
	}
	for _, n := range []string{"work", "home"} {
		if err := ss.PutSieveScript(ctx, a.ID, n, "keep; # "+n); err != nil {
			t.Fatal(err)
		}
	}
	if err := ss.PutSieveScript(ctx, a.ID, "home", "discard;"); err != nil {
		t.Fatal(err)
	}
	if err := ss.SetActiveSieveScript(ctx, a.ID, "home"); err != nil {
		t.Fatal(err)
	}
	if err := ss.SetActiveSieveScript(ctx, a.ID, "nope"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("activate missing: %v", err)
	}
	list, err := ss.SieveScripts(ctx, a.ID)
	if err != nil || len(list) != 2 || list[0].Name != "home" || !list[0].Active || list[0].ID == "" || list[0].ID == list[1].ID || list[1].Name != "work" || list[1].Active {
		t.Errorf("list: %v %v", list, err)
	}
	if list, err := ss.SieveScripts(ctx, b.ID); err != nil || len(list) != 0 {
		t.Errorf("other account sees %v %v", list, err)
	}
	name, src, err := ss.ActiveSieveScript(ctx, a.ID)
	if err != nil || name != "home" || src != "discard;" {
		t.Errorf("active: %q %q %v", name, src, err)
	}
	if err := ss.DeleteSieveScript(ctx, a.ID, "home"); !errors.Is(err, directory.ErrInUse) {
		t.Errorf("delete active: %v", err)
	}
	if err := ss.RenameSieveScript(ctx, a.ID, "home", "work"); !errors.Is(err, directory.ErrExists) {
		t.Errorf("rename onto existing: %v", err)
	}
	if err := ss.RenameSieveScript(ctx, a.ID, "nope", "x"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("rename missing: %v", err)
	}
	if err := ss.RenameSieveScript(ctx, a.ID, "home", "vacation"); err != nil {
		t.Fatal(err)
	}
	// The id outlives a rename and a replacement (RFC 8620 section 1.2).
	if s, src, err := ss.SieveScript(ctx, a.ID, "vacation"); err != nil || !s.Active || src != "discard;" || s.ID != list[0].ID {
		t.Errorf("renamed: %v %q %v, want id %s", s, src, err, list[0].ID)
	}
	if err := ss.PutSieveScript(ctx, a.ID, "vacation", "discard; # again"); err != nil {
		t.Fatal(err)
	}
	if s, _, err := ss.SieveScript(ctx, a.ID, "vacation"); err != nil || s.ID != list[0].ID {
		t.Errorf("replaced: %v %v, want id %s", s, err, list[0].ID)
	}
	if err := ss.SetActiveSieveScript(ctx, a.ID, ""); err != nil {
		t.Fatal(err)
	}
	if err := ss.DeleteSieveScript(ctx, a.ID, "vacation"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ss.SieveScript(ctx, a.ID, "vacation"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("deleted: %v", err)
	}
	if _, err := d.RemoveAccount(ctx, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	if list, err := ss.SieveScripts(ctx, a.ID); err != nil || len(list) != 0 {
		t.Errorf("scripts outlive their account: %v %v", list, err)
	}
	if err := ss.PutSieveScript(ctx, a.ID, "x", "keep;"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("put for removed account: %v", err)
	}
}

// testSieveChanges checks the scripts' change log: every change raises
// the state, by whatever path, and SieveChanges tells created, updated
// and destroyed scripts apart from any earlier state.
func testSieveChanges(t *testing.T, ctx context.Context, d directory.Directory) {
	ss, a, b := sieveAccounts(t, ctx, d)
	state := func() int64 {
		t.Helper()
		s, err := ss.SieveState(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	id := func(name string) string {
		t.Helper()
		s, _, err := ss.SieveScript(ctx, a.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		return s.ID
	}
	changes := func(since int64) ([]change, int64) {
		t.Helper()
		l, st, err := ss.SieveChanges(ctx, a.ID, since)
		if err != nil {
			t.Fatal(err)
		}
		return changeList(t, l, since, st), st
	}
	// A directory that tells of changes (JMAP push) tells of each.
	if w, ok := d.(directory.RecordWatch); ok {
		woken, stop := w.WatchRecords(a.ID)
		defer stop()
		defer func() {
			select {
			case <-woken:
			case <-time.After(10 * time.Second):
				t.Error("the changes of ann's scripts did not wake her watch")
			}
		}()
	}
	s0 := state()
	if l, st := changes(s0); len(l) != 0 || st != s0 {
		t.Errorf("changes at the current state: %v %d, want none at %d", l, st, s0)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ss.PutSieveScript(ctx, a.ID, "one", "keep;"))
	must(ss.PutSieveScript(ctx, a.ID, "two", "keep;"))
	one, two := id("one"), id("two")
	s1 := state()
	if s1 <= s0 {
		t.Fatalf("state %d after two creations, was %d", s1, s0)
	}
	if l, st := changes(s0); len(l) != 2 || l[0] != (change{one, true, false}) || l[1] != (change{two, true, false}) || st != s1 {
		t.Errorf("after creations: %v %d", l, st)
	}
	// Bob's scripts are his own state.
	must(ss.PutSieveScript(ctx, b.ID, "bob", "keep;"))
	if state() != s1 {
		t.Errorf("another account's script moved the state")
	}

	must(ss.PutSieveScript(ctx, a.ID, "one", "discard;")) // replaced
	must(ss.SetActiveSieveScript(ctx, a.ID, "two"))       // activated
	must(ss.PutSieveScript(ctx, a.ID, "three", "keep;"))  // created
	three := id("three")
	must(ss.DeleteSieveScript(ctx, a.ID, "three")) // and destroyed
	must(ss.RenameSieveScript(ctx, a.ID, "one", "uno"))
	s2 := state()
	l, st := changes(s1)
	// one, replaced then renamed, is updated once; three was created and
	// destroyed within the window.
	want := []change{{two, false, false}, {three, true, true}, {one, false, false}}
	if !slices.Equal(l, want) || st != s2 {
		t.Errorf("since %d: %v %d, want %v %d", s1, l, st, want, s2)
	}
	before := state()
	must(ss.SetActiveSieveScript(ctx, a.ID, "two")) // already active: no change
	if state() != before {
		t.Errorf("activating the active script moved the state")
	}
	must(ss.SetActiveSieveScript(ctx, a.ID, "uno"))
	l, _ = changes(before)
	if !slices.Equal(l, []change{{two, false, false}, {one, false, false}}) {
		t.Errorf("switching the active script: %v", l)
	}
	must(ss.SetActiveSieveScript(ctx, a.ID, ""))
	must(ss.DeleteSieveScript(ctx, a.ID, "uno"))
	l, st = changes(s1)
	if !slices.Contains(l, change{one, false, true}) || st != state() {
		t.Errorf("destroyed: %v %d", l, st)
	}
	if l, _ := changes(s0); slices.ContainsFunc(l, func(c change) bool { return c.id == one && !(c.created && c.destroyed) }) {
		t.Errorf("a script created and destroyed since s0 shows otherwise: %v", l)
	}

	// Writers at once (ManageSieve and JMAP on several nodes) never
	// share a modseq: each change is reported, in order.
	s3 := state()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() { errs <- ss.PutSieveScript(ctx, a.ID, fmt.Sprintf("c%d", i), "keep;") })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(err)
	}
	if l, st := changes(s3); len(l) != 8 || st != s3+8 {
		t.Errorf("8 writers at once: %d changes, state %d, want 8 and %d", len(l), st, s3+8)
	}
}

// change is a directory.Change without its modseq, for comparisons.
type change struct {
	id                 string
	created, destroyed bool
}

// changeList checks that the changes read since a state are after it, in
// modseq order, none after the state st read with them, and returns them
// as changes.
func changeList(t *testing.T, l []directory.Change, since, st int64) []change {
	t.Helper()
	var out []change
	for i, c := range l {
		if c.ModSeq <= since || c.ModSeq > st || i > 0 && c.ModSeq <= l[i-1].ModSeq {
			t.Errorf("modseqs out of order: %v after %d, state %d", l, since, st)
		}
		out = append(out, change{c.ID, c.Created, c.Destroyed})
	}
	return out
}
