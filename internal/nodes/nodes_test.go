package nodes

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"casella/internal/pgtest"
)

func testRegister(t *testing.T, engine, target string) {
	ctx := context.Background()
	// Two nodes open the register of one database, as at a cluster's
	// start.
	r1, err := Open(ctx, engine, target)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := Open(ctx, engine, target)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	start := time.Now().Add(-time.Minute).Truncate(time.Millisecond).UTC()
	now := start.Add(time.Minute)
	if err := r1.Beat(ctx, Node{Name: "n1", Started: start, Seen: now.Add(-time.Hour), Backlog: map[string]int{"a": 1}}); err != nil {
		t.Fatal(err)
	}
	// A later heartbeat replaces the earlier.
	if err := r1.Beat(ctx, Node{Name: "n1", Started: start, Seen: now, Backlog: map[string]int{"a": 3, "b": 1}}); err != nil {
		t.Fatal(err)
	}
	if err := r2.Beat(ctx, Node{Name: "n2", Started: start, Seen: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got, err := r2.Seen(ctx, now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "n1" || !got[0].Seen.Equal(now) || !got[0].Started.Equal(start) || got[0].Backlog["a"] != 3 || got[0].Backlog["b"] != 1 {
		t.Fatalf("Seen = %+v; want n1 only, with its last heartbeat", got)
	}
	all, err := r1.Seen(ctx, time.Time{})
	if err != nil || len(all) != 2 {
		t.Fatalf("Seen since ever = %+v, %v", all, err)
	}
}

func TestSQLite(t *testing.T) {
	testRegister(t, SQLite, filepath.Join(t.TempDir(), "directory.db"))
}

func TestPostgres(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	testRegister(t, Postgres, srv.CreateDB(t))
}
