package sqlitedir

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"casella/internal/directory"
	"casella/internal/directory/directorytest"
)

func TestConformance(t *testing.T) {
	directorytest.Run(t, func(t *testing.T) directory.Directory {
		d, err := Open(filepath.Join(t.TempDir(), "directory.db"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// TestTwoHandles checks that two Dir values on one file, as the admin CLI
// and a running server would have, see each other's changes.
func TestTwoHandles(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "directory.db")
	server, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	admin, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	if _, err := server.Resolve(ctx, "user@example.com"); !errors.Is(err, directory.ErrNotLocal) {
		t.Fatalf("before: %v", err)
	}
	if _, err := admin.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	a, err := admin.AddAccount(ctx, "user@example.com", "pw", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	r, err := server.Resolve(ctx, "user@example.com")
	if err != nil || len(r) != 1 || r[0].Account.ID != a.ID {
		t.Fatalf("server after admin added the account: %+v, %v", r, err)
	}
	if _, err := server.Authenticate(ctx, "user@example.com", "pw"); err != nil {
		t.Fatalf("server authenticating the new account: %v", err)
	}
	if err := server.SetQuota(ctx, "user@example.com", 42); err != nil {
		t.Fatal(err)
	}
	if got, err := admin.Account(ctx, "user@example.com"); err != nil || got.Quota != 42 {
		t.Fatalf("admin after server set quota: %+v, %v", got, err)
	}
	if _, err := admin.RemoveAccount(ctx, "user@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Resolve(ctx, "user@example.com"); !errors.Is(err, directory.ErrNoSuchUser) {
		t.Fatalf("server after admin removed the account: %v", err)
	}
}

// TestReopen checks that data survives closing and that opening a current
// database applies no migration twice.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "directory.db")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if ok, err := d.IsLocal(ctx, "example.com"); err != nil || !ok {
		t.Fatalf("IsLocal after reopen = %v, %v", ok, err)
	}
}

func TestNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "directory.db")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE schema_version SET version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if d, err := Open(path); err == nil {
		d.Close()
		t.Fatal("opened a database with a newer schema")
	}
}

// TestLegacyVersion opens a directory written when the version lived in
// PRAGMA user_version, before schema_version: its tables are kept, not
// created again.
func TestLegacyVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "directory.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{steps[0], "PRAGMA user_version = 1", "INSERT INTO domains (name, created) VALUES ('old.test', 0)"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	d, err := Open(path)
	if err != nil {
		t.Fatalf("open a legacy directory: %v", err)
	}
	defer d.Close()
	domains, err := d.Domains(t.Context())
	if err != nil || len(domains) != 1 || domains[0].Name != "old.test" {
		t.Fatalf("domains of a legacy directory: %v, %v", domains, err)
	}
}

func TestOpenFails(t *testing.T) {
	if d, err := Open(filepath.Join(t.TempDir(), "missing", "directory.db")); err == nil {
		d.Close()
		t.Fatal("opened a database in a missing directory")
	}
}

func TestOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "with space%20")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	d, err := Open(filepath.Join(dir, "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := os.Stat(filepath.Join(dir, "directory.db")); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
	if d, err := Open(filepath.Join(dir, "what?.db")); err == nil {
		d.Close()
		t.Fatal("opened a path with '?'")
	}
}

// TestSieveIDBackfill opens a directory whose scripts were stored before
// scripts had ids: each gets its own when the directory opens.
func TestSieveIDBackfill(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "directory.db")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	a, err := d.AddAccount(ctx, "ann@example.com", "ann's password", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"one", "two"} {
		if err := d.PutSieveScript(ctx, a.ID, n, "keep;"); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE sieve_scripts SET id = NULL"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	d, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	list, err := d.SieveScripts(ctx, a.ID)
	if err != nil || len(list) != 2 || len(list[0].ID) != 27 || len(list[1].ID) != 27 || list[0].ID == list[1].ID {
		t.Errorf("backfilled: %v %v", list, err)
	}
}

// TestSubmissionSchemaUpgrade opens a directory whose submission records
// were written before tombstones had a time, accounts a horizon and
// records a delivery status: the upgrade keeps the records, with no
// delivery status, and the first expiry removes the old
// tombstone and refuses changes from before it.
func TestSubmissionSchemaUpgrade(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "directory.db")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	a, err := d.AddAccount(ctx, "ann@example.com", "ann-password", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	held := time.Now().Add(time.Hour)
	for _, id := range []string{"S1", "S2"} {
		if _, err := d.AddSubmission(ctx, a.ID, directory.Submission{ID: id, SendAt: held, UndoStatus: directory.UndoPending}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.DestroySubmission(ctx, a.ID, "S1"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	// Back to the first schema step of the submissions.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"DROP TABLE submission_horizons", "ALTER TABLE submissions DROP COLUMN destroyed_at", "ALTER TABLE submissions DROP COLUMN delivery",
		"UPDATE submission_schema_version SET version = 1"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	d, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	l, state, err := d.Submissions(ctx, a.ID)
	if err != nil || len(l) != 1 || l[0].ID != "S2" || state != 3 || l[0].DeliveryStatus != nil {
		t.Fatalf("after the upgrade: %+v, state %d, %v", l, state, err)
	}
	if destroyed, removed, err := d.ExpireSubmissions(ctx, time.Now().Add(-time.Hour)); err != nil || destroyed != 0 || removed != 1 {
		t.Fatalf("first expiry: %d destroyed, %d removed, %v; want 0, 1", destroyed, removed, err)
	}
	if _, _, err := d.SubmissionChanges(ctx, a.ID, 2); !errors.Is(err, directory.ErrChangesExpired) {
		t.Fatalf("changes from before the removed tombstone: %v", err)
	}
	if _, st, err := d.SubmissionChanges(ctx, a.ID, 3); err != nil || st != 3 {
		t.Fatalf("changes from the state: %d, %v", st, err)
	}
}
