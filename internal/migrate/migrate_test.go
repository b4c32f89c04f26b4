package migrate

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"casella/internal/pgtest"
)

var steps = []string{
	`CREATE TABLE a (n INTEGER NOT NULL)`,
	`CREATE TABLE b (n INTEGER NOT NULL); INSERT INTO a (n) VALUES (1)`,
}

func openSQLite(t *testing.T) *sql.DB {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db")+"?_txlock=immediate&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestApplyInSteps(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	s := Schema{Name: "test", Steps: steps[:1]}
	if from, to, err := Apply(ctx, db, s); err != nil || from != 0 || to != 1 {
		t.Fatalf("first Apply: %d -> %d, %v", from, to, err)
	}
	s.Steps = steps
	if from, to, err := Apply(ctx, db, s); err != nil || from != 1 || to != 2 {
		t.Fatalf("second Apply: %d -> %d, %v", from, to, err)
	}
	if from, to, err := Apply(ctx, db, s); err != nil || from != 2 || to != 2 {
		t.Fatalf("Apply of a current schema: %d -> %d, %v", from, to, err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM a`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows of a: %d, %v; want 1 (each step once)", n, err)
	}
}

func TestNewerRefused(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	if _, _, err := Apply(ctx, db, Schema{Name: "test", Steps: steps}); err != nil {
		t.Fatal(err)
	}
	_, _, err := Apply(ctx, db, Schema{Name: "test", Steps: steps[:1]})
	if err == nil || !strings.Contains(err.Error(), "newer than this casella knows") {
		t.Fatalf("Apply with fewer steps than the database has: %v", err)
	}
}

// TestFailedStepRollsBack checks that a failed upgrade leaves the schema
// as it was, so the next start tries the whole upgrade again.
func TestFailedStepRollsBack(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	bad := append(append([]string{}, steps...), `CREATE TABLE a (n INTEGER)`)
	if _, _, err := Apply(ctx, db, Schema{Name: "test", Steps: bad}); err == nil {
		t.Fatal("a failing step was applied")
	}
	if _, err := db.Exec(`SELECT n FROM a`); err == nil {
		t.Fatal("the steps before the failing one were kept")
	}
}

func TestLegacy(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	for _, q := range []string{steps[0], "PRAGMA user_version = 1"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	from, to, err := Apply(ctx, db, Schema{Name: "test", Steps: steps, Legacy: "PRAGMA user_version"})
	if err != nil || from != 1 || to != 2 {
		t.Fatalf("Apply over a legacy version: %d -> %d, %v", from, to, err)
	}
}

// TestConcurrentPostgres starts many migrations of one PostgreSQL database
// at once, as nodes of a cluster starting together do: the advisory lock
// lets one apply the steps and the others find them applied.
func TestConcurrentPostgres(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	dsn := srv.CreateDB(t)
	s := Schema{Name: "test", Steps: steps, Lock: "SELECT pg_advisory_xact_lock(7)"}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	applied := make(chan int, 8)
	for range 8 {
		wg.Go(func() {
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			from, to, err := Apply(context.Background(), db, s)
			if err != nil {
				errs <- err
				return
			}
			applied <- to - from
		})
	}
	wg.Wait()
	close(errs)
	close(applied)
	for err := range errs {
		t.Fatalf("concurrent Apply: %v", err)
	}
	total := 0
	for n := range applied {
		total += n
	}
	if total != len(steps) {
		t.Fatalf("steps applied across all migrations: %d, want %d (each once)", total, len(steps))
	}
}
