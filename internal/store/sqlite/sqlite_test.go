package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"casella/internal/blob"

	"casella/internal/store"
	"casella/internal/store/storetest"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t) })
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Deliver(ctx, store.Delivery{Key: "k1", Account: 7, Message: testMessage(1)})
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.Mailbox(ctx, 7, store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openPath(t, path)
	after, err := s.Mailbox(ctx, 7, store.Inbox)
	if err != nil || after != before {
		t.Fatalf("after reopen: %+v, %v; was %+v", after, err, before)
	}
	// The delivery key survived: delivering again is a duplicate.
	d2, err := s.Deliver(ctx, store.Delivery{Key: "k1", Account: 7, Message: testMessage(1)})
	if err != nil || !d2.Duplicate || d2.UID != d.UID {
		t.Errorf("redelivery after reopen: %+v, %v", d2, err)
	}
}

func openPath(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testMessage(n int) store.NewMessage {
	data := fmt.Sprintf("message %d", n)
	return store.NewMessage{Blob: blob.KeyOf([]byte(data)), Size: int64(len(data))}
}

func TestMigrateEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := openPath(t, path)
	var version int
	if err := s.r.QueryRow(`SELECT version FROM schema_version`).Scan(&version); err != nil || version != len(steps) {
		t.Fatalf("schema version %d, %v; want %d", version, err, len(steps))
	}
	if err := s.EnsureAccount(t.Context(), 1); err != nil {
		t.Fatalf("EnsureAccount on a migrated empty file: %v", err)
	}
	// Opening again applies nothing and keeps the data.
	s.Close()
	s = openPath(t, path)
	if _, err := s.Mailbox(t.Context(), 1, store.Inbox); err != nil {
		t.Errorf("after reopen: %v", err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s := openPath(t, path)
	if _, err := s.w.Exec(`UPDATE schema_version SET version = ?`, len(steps)+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(path)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

func TestBadPath(t *testing.T) {
	for _, p := range []string{"", "a?b", filepath.Join(t.TempDir(), "missing-dir", "x", "store.db")} {
		if s, err := Open(p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

// TestTwoStores stands for the admin CLI, another process, using the file
// while the server runs: each Store sees the other's commits.
func TestTwoStores(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	server := openPath(t, path)
	cli := openPath(t, path)
	if err := cli.EnsureAccount(ctx, 3); err != nil {
		t.Fatal(err)
	}
	d, err := server.Deliver(ctx, store.Delivery{Key: "x", Account: 3, Message: testMessage(1)})
	if err != nil {
		t.Fatalf("server delivery to an account the CLI created: %v", err)
	}
	mb, err := cli.Mailbox(ctx, 3, store.Inbox)
	if err != nil || mb.Messages != 1 || mb.UIDNext != d.UID+1 {
		t.Fatalf("CLI sees %+v, %v", mb, err)
	}
	// Writers in both interleave without losing UIDs or counts.
	for i := range 10 {
		s := server
		if i%2 == 1 {
			s = cli
		}
		if _, err := s.Append(ctx, 3, mb.ID, []store.NewMessage{testMessage(i + 2)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*Store{server, cli} {
		mb, err := s.Mailbox(ctx, 3, store.Inbox)
		if err != nil || mb.Messages != 11 || mb.UIDNext != 12 {
			t.Errorf("after interleaved appends: %+v, %v", mb, err)
		}
	}
	// Concurrent writers on both wait for each other instead of failing.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		s := server
		if i%2 == 1 {
			s = cli
		}
		wg.Go(func() {
			_, err := s.Deliver(ctx, store.Delivery{Key: fmt.Sprint("c", i), Account: 3, Message: testMessage(100 + i)})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent delivery through two stores: %v", err)
		}
	}
	if mb, err := server.Mailbox(ctx, 3, store.Inbox); err != nil || mb.Messages != 31 || mb.UIDNext != 32 {
		t.Errorf("after concurrent deliveries: %+v, %v", mb, err)
	}
	if err := cli.DeleteAccount(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Usage(ctx, 3); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("server after the CLI deleted the account: %v", err)
	}
}

func TestClosedIsUnavailable(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = s.Deliver(t.Context(), store.Delivery{Key: "k", Account: 1, Message: testMessage(1)})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Deliver on a closed store: %v, want ErrUnavailable", err)
	}
	if _, err := s.Mailboxes(t.Context(), 1); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Mailboxes on a closed store: %v, want ErrUnavailable", err)
	}
}

// TestMigrateDeliveries opens a database at schema version 1 holding a
// delivery and checks that version 2, which rebuilds the deliveries
// table, still knows its key and prunes it.
func TestMigrateDeliveries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_version (version INTEGER NOT NULL)`,
		`INSERT INTO schema_version (version) VALUES (1)`,
		steps[0],
		`INSERT INTO accounts (id) VALUES (7)`,
		`INSERT INTO mailboxes (account, name, uidvalidity, uidnext) VALUES (7, 'INBOX', 1, 2)`,
		`INSERT INTO deliveries (account, key, mailbox, uid, created) VALUES (7, 'spool-1/0', 1, 1, 1000)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open a version 1 database: %v", err)
	}
	defer s.Close()
	ctx := t.Context()
	m := store.NewMessage{Blob: blob.KeyOf([]byte("x")), Size: 1}
	d, err := s.Deliver(ctx, store.Delivery{Key: "spool-1/0", Account: 7, Message: m})
	if err != nil || !d.Duplicate || d.Mailbox != 1 || d.UID != 1 {
		t.Fatalf("delivery recorded before the migration: %+v, %v; want a duplicate of mailbox 1 UID 1", d, err)
	}
	if n, err := s.PruneDeliveries(ctx, time.Unix(1001, 0)); err != nil || n != 1 {
		t.Fatalf("PruneDeliveries of the migrated key: %d, %v", n, err)
	}
	if err := s.DeleteAccount(ctx, 7); err != nil {
		t.Fatalf("DeleteAccount after the migration: %v", err)
	}
}

// TestModSeqFromLog checks that a STORE, which leaves the account row
// alone (the last MODSEQ is the change log's), still hands out MODSEQs above
// every one before it, across a reopen, and that Changes reports the
// highest.
func TestModSeqFromLog(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	s := openPath(t, path)
	d, err := s.Deliver(ctx, store.Delivery{Key: "k1", Account: 3, Message: testMessage(1)})
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for i, op := range []store.FlagOp{store.FlagsAdd, store.FlagsRemove, store.FlagsAdd} {
		if i == 2 {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openPath(t, path)
		}
		res, err := s.UpdateFlags(ctx, 3, store.FlagUpdate{Mailbox: d.Mailbox, UIDs: []store.UIDRange{{First: d.UID, Last: d.UID}}, Op: op, Flags: []string{"$Work"}})
		if err != nil || len(res.Changed) != 1 {
			t.Fatalf("store %d: %+v, %v", i, res, err)
		}
		ms := res.Changed[0].ModSeq
		if ms <= last {
			t.Fatalf("store %d got MODSEQ %d, not above %d", i, ms, last)
		}
		last = ms
		if _, highest, err := s.Changes(ctx, 3, 0, ms, 0); err != nil || highest != ms {
			t.Fatalf("store %d: Changes reports highest %d, %v; want %d", i, highest, err, ms)
		}
	}
}

// TestMessagesWithBlobPlan checks that MessagesWithBlob's query finds
// its rows through both columns of the blob index (schema step 7): a
// blob delivered to many accounts is not read for all of them.
func TestMessagesWithBlobPlan(t *testing.T) {
	s := openPath(t, filepath.Join(t.TempDir(), "plan.db"))
	rows, err := s.r.Query(`EXPLAIN QUERY PLAN SELECT m.id FROM messages m WHERE m.blob = ? AND m.account = ? ORDER BY m.id`, "k", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if got := strings.Join(plan, "; "); !strings.Contains(got, "messages_blob (blob=? AND account=?)") {
		t.Errorf("plan: %s", got)
	}
}
