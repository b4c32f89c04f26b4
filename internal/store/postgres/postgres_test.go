package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"casella/internal/blob"
	"casella/internal/migrate"
	"casella/internal/pgtest"
	"casella/internal/store"
	"casella/internal/store/cache"
	"casella/internal/store/storetest"
)

// openTest opens a store on the database of dsn, closed when t ends.
func openTest(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn)
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
	srv := pgtest.Start(t, pgtest.Options{})
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, srv.CreateDB(t)) })
}

// TestCacheConformance runs the suite through the row cache, which keeps
// mailboxes current by reading the change log.
func TestCacheConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("the suite without the cache runs in -short")
	}
	srv := pgtest.Start(t, pgtest.Options{})
	storetest.Run(t, func(t *testing.T) store.Store {
		return cache.New(openTest(t, srv.CreateDB(t)), cache.Options{Limit: 1000, MinSpan: 1})
	})
}

func testMessage(n int) store.NewMessage {
	data := fmt.Sprintf("message %d", n)
	return store.NewMessage{Blob: blob.KeyOf([]byte(data)), Size: int64(len(data))}
}

// TestCacheSeesOtherNode checks that a cache in front of node A serves
// what node B appended.
func TestCacheSeesOtherNode(t *testing.T) {
	ctx := t.Context()
	srv := pgtest.Start(t, pgtest.Options{})
	dsn := srv.CreateDB(t)
	a := cache.New(openTest(t, dsn), cache.Options{Limit: 1000, MinSpan: 1})
	b := openTest(t, dsn)
	if err := b.EnsureAccount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	inbox, err := a.Mailbox(ctx, 1, store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		n := 0
		if err := a.Messages(ctx, 1, store.Query{Mailbox: inbox.ID}, func(*store.Message) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := range 3 {
		if _, err := b.Append(ctx, 1, inbox.ID, []store.NewMessage{testMessage(i)}); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != i+1 {
			t.Fatalf("the cache on A lists %d messages after B appended %d", n, i+1)
		}
	}
}

// TestMigrateTogether opens one new database from several nodes at once:
// the steps are applied once, and every node starts.
func TestMigrateTogether(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	dsn := srv.CreateDB(t)
	const nodes = 4
	var wg sync.WaitGroup
	applied := make(chan int, nodes)
	for range nodes {
		wg.Go(func() {
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				t.Error(err)
				return
			}
			defer db.Close()
			from, to, err := migrate.Apply(t.Context(), db, schema)
			if err != nil {
				t.Errorf("migrate: %v", err)
				return
			}
			if from != to {
				applied <- from
			}
		})
	}
	wg.Wait()
	close(applied)
	var n int
	for from := range applied {
		n++
		if from != 0 {
			t.Errorf("a node migrated from version %d", from)
		}
	}
	if n != 1 {
		t.Errorf("%d nodes applied the steps, want 1", n)
	}
	// Stores opened together on the migrated database all start.
	errs := make(chan error, nodes)
	for range nodes {
		wg.Go(func() {
			s, err := Open(t.Context(), dsn)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Open beside other nodes: %v", err)
		}
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	dsn := srv.CreateDB(t)
	s := openTest(t, dsn)
	if _, err := s.db.Exec(`UPDATE schema_version SET version = $1`, len(steps)+1); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), dsn)
	if err == nil || !strings.Contains(err.Error(), "newer than this casella knows") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
	if errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a newer schema is reported as unavailable, which invites retries: %v", err)
	}
}

// TestUnreachable opens stores on a port where nothing listens and on
// one that accepts connections and never answers: both fail as
// unavailable instead of hanging.
func TestUnreachable(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	ctx := t.Context()
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		dsn  string
	}{
		{"refused", ctx, "postgres://casella@" + closedAddr + "/x?sslmode=disable"},
		{"silent, connect_timeout", ctx, "postgres://casella@" + silent.Addr().String() + "/x?sslmode=disable&connect_timeout=1"},
		{"silent, context deadline", short, "postgres://casella@" + silent.Addr().String() + "/x?sslmode=disable"},
	} {
		s, err := Open(tc.ctx, tc.dsn)
		if err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", tc.name)
		} else if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", tc.name, err)
		}
	}
	if _, err := Open(ctx, "postgres://casella:secret@[::1/x"); err == nil || errors.Is(err, store.ErrUnavailable) || strings.Contains(err.Error(), "secret") {
		t.Errorf("a malformed DSN: %v, want a plain error without the password", err)
	}
}

// TestServerDown stops the server under a store: calls fail as
// unavailable, and work again once it is back, with watchers woken.
func TestServerDown(t *testing.T) {
	ctx := t.Context()
	srv := pgtest.Start(t, pgtest.Options{})
	s := openTest(t, srv.CreateDB(t))
	if err := s.EnsureAccount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	ch, cancel := s.Watch(1)
	defer cancel()
	if err := srv.Stop("immediate"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Deliver(ctx, store.Delivery{Key: "k", Account: 1, Message: testMessage(1)}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Deliver with the server down: %v, want ErrUnavailable", err)
	}
	if _, err := s.Mailboxes(ctx, 1); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Mailboxes with the server down: %v, want ErrUnavailable", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// The pool may hand out a connection the stop broke once more; the
	// next call gets a new one.
	var err error
	for range 10 {
		if _, err = s.Deliver(ctx, store.Delivery{Key: "k", Account: 1, Message: testMessage(1)}); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("Deliver after the server came back: %v", err)
	}
	waitWake(t, ch, "after the server came back")
}

// waitWake waits for a watcher's channel.
func waitWake(t *testing.T, ch <-chan struct{}, when string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("no notification %s", when)
	}
}

// drain empties a watcher's channel.
func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// TestWatchAcrossNodes checks that a change committed through node B
// wakes node A's watcher, and still does after A's listening connection
// was killed.
func TestWatchAcrossNodes(t *testing.T) {
	ctx := t.Context()
	srv := pgtest.Start(t, pgtest.Options{})
	dsn := srv.CreateDB(t)
	a, b := openTest(t, dsn), openTest(t, dsn)
	if err := b.EnsureAccount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	ch, cancel := a.Watch(1)
	defer cancel()
	otherCh, otherCancel := a.Watch(2)
	defer otherCancel()
	deliver := func(key string) {
		t.Helper()
		if _, err := b.Deliver(ctx, store.Delivery{Key: key, Account: 1, Message: testMessage(len(key))}); err != nil {
			t.Fatal(err)
		}
	}
	deliver("one")
	waitWake(t, ch, "on A for a delivery through B")
	select {
	case <-otherCh:
		t.Error("a watcher of another account was woken")
	default:
	}

	// Kill the listening connections; A reconnects and wakes its
	// watchers, since it cannot know what it missed.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	drain(ch)
	killed := killListeners(t, db)
	waitWake(t, ch, "after A's listening connection was lost")
	waitListening(t, db, killed)
	drain(ch)
	deliver("two")
	waitWake(t, ch, "on A for a delivery through B after A reconnected")

	// A change committed while nobody listens is not lost either.
	drain(ch)
	killListeners(t, db)
	deliver("three")
	waitWake(t, ch, "on A for a delivery made while A's listener was down")
	c, _, err := a.Changes(ctx, 1, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if added := countAdded(c); added != 3 {
		t.Errorf("A's change log holds %d additions, want 3", added)
	}
}

func countAdded(l []store.Change) int {
	n := 0
	for _, c := range l {
		if c.Kind == store.MessageAdded {
			n++
		}
	}
	return n
}

// killListeners terminates the listening connections of the database's
// stores and returns their backends' PIDs.
func killListeners(t *testing.T, db *sql.DB) []int64 {
	t.Helper()
	// In the select list, pg_terminate_backend runs only for the rows
	// the WHERE clause kept; in the WHERE clause it could run for others.
	rows, err := db.Query(`SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'casella-listen'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var pids []int64
	for rows.Next() {
		var pid int64
		var ok bool
		if err := rows.Scan(&pid, &ok); err != nil {
			t.Fatal(err)
		}
		if ok {
			pids = append(pids, pid)
		}
	}
	if err := rows.Err(); err != nil || len(pids) == 0 {
		t.Fatalf("terminated %d listening connections: %v", len(pids), err)
	}
	return pids
}

// waitListening waits until as many listening connections as were
// killed are back, on new backends.
func waitListening(t *testing.T, db *sql.DB, killed []int64) {
	t.Helper()
	for range 300 {
		var got int
		err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'casella-listen'
			AND query LIKE 'LISTEN%' AND pid <> ALL ($1)`, killed).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		if got == len(killed) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the stores did not listen again")
}
