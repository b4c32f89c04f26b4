package sqlprep

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestStmtPreparedOnce(t *testing.T) {
	ctx := context.Background()
	c := New(openDB(t))
	const q = `SELECT v FROM kv WHERE k = ?`
	var wg sync.WaitGroup
	got := make([]*sql.Stmt, 8)
	for i := range got {
		wg.Go(func() {
			st, err := c.Stmt(ctx, q)
			if err != nil {
				t.Error(err)
			}
			got[i] = st
		})
	}
	wg.Wait()
	for _, st := range got[1:] {
		if st != got[0] {
			t.Fatal("one query text gave two statements")
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := got[0].QueryContext(ctx, "a"); err == nil {
		t.Error("a statement still runs after Close")
	}
	again, err := c.Stmt(ctx, q)
	if err != nil || again == got[0] {
		t.Errorf("Stmt after Close = %p, %v; want a new statement", again, err)
	}
}

// Statements bound to a transaction see its uncommitted writes, and the
// writes go away with a rollback.
func TestTx(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	c := New(db)
	for _, commit := range []bool{false, true} {
		q, err := c.Begin(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES (?, ?)`, "a", 1); err != nil {
			t.Fatal(err)
		}
		var v int
		if err := q.QueryRowContext(ctx, `SELECT v FROM kv WHERE k = ?`, "a").Scan(&v); err != nil || v != 1 {
			t.Fatalf("row within the transaction: %d, %v", v, err)
		}
		rows, err := q.QueryContext(ctx, `SELECT k FROM kv`)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if n != 1 {
			t.Fatalf("%d rows within the transaction, want 1", n)
		}
		if commit {
			err = q.Commit()
		} else {
			err = q.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM kv`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows after a rollback and a commit, %v; want 1", n, err)
	}
}

// A query that does not prepare reports its error from every method.
func TestBadQuery(t *testing.T) {
	ctx := context.Background()
	c := New(openDB(t))
	q, err := c.Begin(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Rollback()
	const bad = `SELECT nope FROM kv`
	var v int
	if err := q.QueryRowContext(ctx, bad).Scan(&v); err == nil {
		t.Error("QueryRowContext of a bad query scanned")
	}
	if _, err := q.QueryContext(ctx, bad); err == nil {
		t.Error("QueryContext of a bad query succeeded")
	}
	if _, err := q.ExecContext(ctx, bad); err == nil {
		t.Error("ExecContext of a bad query succeeded")
	}
}

// On a database of one connection, which the store's writer is, a text
// first met within a transaction cannot be prepared on the database until
// the transaction gives the connection back; it is prepared then, and the
// next transaction uses the database's statement.
func TestOneConnection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := openDB(t)
	db.SetMaxOpenConns(1)
	c := New(db)
	const q = `SELECT count(*) FROM kv`
	for i := range 2 {
		tx, err := c.Begin(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
		if _, cached := c.m.Load(q); cached != (i == 1) {
			t.Fatalf("transaction %d: statement cached = %v", i, cached)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); !errors.Is(err, sql.ErrTxDone) {
			t.Fatalf("Rollback after Commit = %v", err)
		}
	}
}
