package directorytest

import (
	"context"
	"errors"
	"testing"

	"casella/internal/directory"
)

// testSieveScripts checks directories that keep Sieve scripts
// (directory.SieveScripts); it is skipped for those that do not.
func testSieveScripts(t *testing.T, ctx context.Context, d directory.Directory) {
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
