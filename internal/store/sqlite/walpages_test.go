package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"casella/internal/store"
	"casella/internal/store/storetest"
)

// walPagesBudget is the most WAL pages one write of each kind may cost,
// alone in its commit, in a store of several accounts with a full INBOX
// each. The figures measured are in docs/performance.md; the budget
// leaves room for a page split now and then.
var walPagesBudget = map[string]float64{
	"store-seen":    4.5,
	"store-keyword": 4.5,
	"append":        12,
	"delete":        14,
}

// TestWritePages measures the pages one write adds to the WAL: the cost
// of a write in bytes synced, which a loaded machine does not blur as it
// blurs timings. A reader holding a snapshot keeps the checkpointer from
// restarting the WAL, so the file only grows, by one frame per page.
func TestWritePages(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "pages.db")
	s := openPath(t, path)
	const accounts, perBox, ops = 4, 2000, 60
	boxes := map[store.Account]int64{}
	for a := store.Account(1); a <= accounts; a++ {
		if err := s.EnsureAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		mb, err := s.Mailbox(ctx, a, store.Inbox)
		if err != nil {
			t.Fatal(err)
		}
		boxes[a] = mb.ID
		for i := 0; i < perBox; i += 500 {
			batch := make([]store.NewMessage, 500)
			for j := range batch {
				batch[j] = storetest.BenchMessage(int(a)*perBox + i + j)
			}
			if _, err := s.Append(ctx, a, mb.ID, batch); err != nil {
				t.Fatal(err)
			}
		}
	}
	var pageSize int64
	if err := s.w.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	hold := holdSnapshot(t, path)
	defer hold.Rollback()

	// A restart of the WAL would show as a new salt in its header
	// (https://sqlite.org/fileformat2.html#walformat).
	salt := walSalt(t, path)
	walSize := func() int64 {
		if walSalt(t, path) != salt {
			t.Fatal("the WAL was restarted under the measurement")
		}
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	// Each op works on account (i % accounts) + 1, as sessions of
	// several users would, on messages spread over the mailbox.
	measure := func(name string, op func(acct store.Account, box int64, i int) error) {
		before := walSize()
		for i := range ops {
			a := store.Account(i%accounts + 1)
			if err := op(a, boxes[a], i); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		pages := float64(walSize()-before) / float64(pageSize+24) / ops
		t.Logf("%-14s %5.2f WAL pages per write (%d-byte pages)", name, pages, pageSize)
		if pages > walPagesBudget[name] {
			t.Errorf("%s costs %.2f WAL pages per write, budget %.1f", name, pages, walPagesBudget[name])
		}
	}
	uid := func(i int) []store.UIDRange {
		u := uint32(1 + (i*7919)%perBox)
		return []store.UIDRange{{First: u, Last: u}}
	}
	measure("store-seen", func(a store.Account, box int64, i int) error {
		_, err := s.UpdateFlags(ctx, a, store.FlagUpdate{Mailbox: box, UIDs: uid(i), Op: store.FlagsAdd, Flags: []string{store.FlagSeen}})
		return err
	})
	measure("store-keyword", func(a store.Account, box int64, i int) error {
		_, err := s.UpdateFlags(ctx, a, store.FlagUpdate{Mailbox: box, UIDs: uid(i), Op: store.FlagsAdd, Flags: []string{"$Important"}})
		return err
	})
	measure("append", func(a store.Account, box int64, i int) error {
		_, err := s.Append(ctx, a, box, []store.NewMessage{storetest.BenchMessage(100_000 + i)})
		return err
	})
	measure("delete", func(a store.Account, box int64, i int) error {
		// STORE +FLAGS (\Deleted) then EXPUNGE, as a client deletes.
		u := uid(i + ops)
		if _, err := s.UpdateFlags(ctx, a, store.FlagUpdate{Mailbox: box, UIDs: u, Op: store.FlagsAdd, Flags: []string{store.FlagDeleted}}); err != nil {
			return err
		}
		_, err := s.Expunge(ctx, a, box, u)
		return err
	})
}

// walSalt returns the salts of the WAL's header.
func walSalt(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path + "-wal")
	if err != nil || len(b) < 32 {
		t.Fatalf("read WAL header: %v", err)
	}
	return string(b[16:24])
}

// holdSnapshot opens a read transaction that has read a page from the
// WAL, which keeps the WAL from being restarted until it ends.
func holdSnapshot(t *testing.T, path string) *sql.Tx {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tx, err := db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM accounts`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return tx
}
