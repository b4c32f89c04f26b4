package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"casella/internal/store"
	"casella/internal/store/storetest"
)

// walBudget is the most WAL bytes, in KiB, one write of each kind may
// add, alone in its commit, in a store of several accounts with a full
// INBOX each. The figures measured are in docs/performance.md; the budget
// leaves room for a page split now and then.
var walBudget = map[string]float64{
	"store-seen":    14,
	"store-keyword": 14,
	"append":        45, // 48 while an APPEND or EXPUNGE wrote the account's row too
	"delete":        45,
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
	var page int64
	if err := s.w.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&page); err != nil {
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
		pages := float64(walSize()-before) / float64(page+24) / ops
		kib := pages * float64(page+24) / 1024
		t.Logf("%-14s %5.2f WAL pages per write (%d-byte pages), %5.1f KiB", name, pages, page, kib)
		if kib > walBudget[name] {
			t.Errorf("%s adds %.1f KiB to the WAL per write, budget %.0f", name, kib, walBudget[name])
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
	// Sixteen sessions storing at once share commits (group.go): the
	// pages every write touches (the account's and mailbox's rows, the
	// log's last leaf) are written once per group.
	measureParallel := func(name string, op func(acct store.Account, box int64, i int) error) {
		before := walSize()
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < 16*ops; i += 16 {
					a := store.Account(i%accounts + 1)
					if err := op(a, boxes[a], i); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("%s: %v", name, err)
		}
		pages := float64(walSize()-before) / float64(page+24) / (16 * ops)
		t.Logf("%-14s %5.2f WAL pages per write, 16 writers at once, %5.1f KiB", name, pages, pages*float64(page+24)/1024)
	}
	measureParallel("store-seen", func(a store.Account, box int64, i int) error {
		_, err := s.UpdateFlags(ctx, a, store.FlagUpdate{Mailbox: box, UIDs: uid(i), Op: store.FlagsAdd, Flags: []string{store.FlagAnswered}})
		return err
	})
	measureParallel("append", func(a store.Account, box int64, i int) error {
		_, err := s.Append(ctx, a, box, []store.NewMessage{storetest.BenchMessage(200_000 + i)})
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

// BenchmarkWrite measures one write of each kind alone in its commit, in
// a mailbox of 2,000 messages; its allocations per write do not move with
// the machine's load as its timings do (docs/performance.md).
func BenchmarkWrite(b *testing.B) {
	ops := map[string]func(s *Store, box int64, i int) error{
		"Store": func(s *Store, box int64, i int) error {
			u := uint32(1 + (i*7919)%2000)
			_, err := s.UpdateFlags(b.Context(), 1, store.FlagUpdate{Mailbox: box, UIDs: []store.UIDRange{{First: u, Last: u}},
				Op: []store.FlagOp{store.FlagsAdd, store.FlagsRemove}[i/2000%2], Flags: []string{store.FlagSeen}})
			return err
		},
		"Append": func(s *Store, box int64, i int) error {
			_, err := s.Append(b.Context(), 1, box, []store.NewMessage{storetest.BenchMessage(100_000 + i)})
			return err
		},
		"Expunge": func(s *Store, box int64, i int) error {
			u := []store.UIDRange{{First: uint32(i + 1), Last: uint32(i + 1)}}
			_, err := s.Expunge(b.Context(), 1, box, u)
			return err
		},
	}
	for _, name := range []string{"Store", "Append", "Expunge"} {
		b.Run(name, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.EnsureAccount(b.Context(), 1); err != nil {
				b.Fatal(err)
			}
			mb, err := s.Mailbox(b.Context(), 1, store.Inbox)
			if err != nil {
				b.Fatal(err)
			}
			// Every message \Deleted, so that Expunge always has one.
			batch := make([]store.NewMessage, 2000)
			for j := range batch {
				batch[j] = storetest.BenchMessage(j)
				batch[j].Flags = []string{store.FlagDeleted}
			}
			if _, err := s.Append(b.Context(), 1, mb.ID, batch); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				if err := ops[name](s, mb.ID, i); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
