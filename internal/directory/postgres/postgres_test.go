package postgres

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"casella/internal/directory"
	"casella/internal/directory/directorytest"
	"casella/internal/pgtest"
)

func open(t *testing.T, dsn string) *Dir {
	t.Helper()
	d, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestOnOneServer runs the tests that can share a server, each in its own
// database: starting a server takes seconds.
func TestOnOneServer(t *testing.T) {
	pg := pgtest.Start(t, pgtest.Options{})
	t.Run("Conformance", func(t *testing.T) {
		directorytest.Run(t, func(t *testing.T) directory.Directory {
			d, err := Open(t.Context(), pg.CreateDB(t))
			if err != nil {
				t.Fatal(err)
			}
			return d
		})
	})
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, pg *pgtest.Server)
	}{
		{"ConcurrentWriters", testConcurrentWriters},
		{"NodesStartTogether", testNodesStartTogether},
		{"NewerSchema", testNewerSchema},
		{"OpenFails", testOpenFails},
		{"RecordWatchAcrossNodes", testRecordWatchAcrossNodes},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, pg) })
	}
}

// testConcurrentWriters checks that writers on two nodes' handles of one
// database never both pass a check only one may pass: of the handles
// adding one address, as an account or as an alias, exactly one wins
// and the others are told it exists.
func testConcurrentWriters(t *testing.T, pg *pgtest.Server) {
	dsn := pg.CreateDB(t)
	ctx := t.Context()
	nodes := []*Dir{open(t, dsn), open(t, dsn)}
	if _, err := nodes[0].AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[0].AddAccount(ctx, "target@example.com", "pw", 0, ""); err != nil {
		t.Fatal(err)
	}
	const rounds, writers = 5, 6
	for r := range rounds {
		addr := fmt.Sprintf("taken%d@example.com", r)
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			d := nodes[w%2]
			wg.Go(func() {
				if w%3 == 0 {
					errs <- d.AddAlias(ctx, addr, []string{"target@example.com"})
					return
				}
				_, err := d.AddAccount(ctx, addr, "pw", 0, "")
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, directory.ErrExists):
				t.Fatalf("adding %s: %v, want nil or ErrExists", addr, err)
			}
		}
		if won != 1 {
			t.Fatalf("%d writers added %s, want 1", won, addr)
		}
	}
}

// testRecordWatchAcrossNodes changes a script, an app password and a
// submission's statuses through one node's handle and sees the other
// node's watch wake (LISTEN/NOTIFY), as JMAP push on that node needs;
// another account's watch stays asleep, and so does ann's for a delivery
// status that is already recorded.
func testRecordWatchAcrossNodes(t *testing.T, pg *pgtest.Server) {
	dsn := pg.CreateDB(t)
	ctx := t.Context()
	a, b := open(t, dsn), open(t, dsn)
	if _, err := a.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	ann, err := a.AddAccount(ctx, "ann@example.com", "pw", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := a.AddAccount(ctx, "bob@example.com", "pw", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	annWoken, stopAnn := b.WatchRecords(ann.ID)
	defer stopAnn()
	bobWoken, stopBob := b.WatchRecords(bob.ID)
	defer stopBob()
	yes := directory.DeliveryStatus{Delivered: directory.DeliveredYes, SMTPReply: "250 2.0.0 Ok"}
	for i, change := range []func() error{
		func() error { return a.PutSieveScript(ctx, ann.ID, "main", "keep;") },
		func() error { return a.SetActiveSieveScript(ctx, ann.ID, "main") },
		func() error { _, _, err := a.AddToken(ctx, ann.ID, "phone", time.Time{}); return err },
		func() error { return a.RevokeToken(ctx, ann.ID, "phone") },
		func() error {
			_, err := a.AddSubmission(ctx, ann.ID, directory.Submission{ID: "S1", UndoStatus: directory.UndoPending, SendAt: time.Now().Add(time.Hour)})
			return err
		},
		func() error { return a.SetDeliveryStatus(ctx, ann.ID, "S1", "bob@example.com", yes) },
		func() error { return a.SetUndoStatus(ctx, ann.ID, "S1", directory.UndoPending, directory.UndoCanceled) },
		func() error { return a.DestroySubmission(ctx, ann.ID, "S1") },
	} {
		if err := change(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-annWoken:
		case <-time.After(10 * time.Second):
			t.Fatalf("change %d: the other node's watch did not wake", i)
		}
	}
	if _, err := a.AddSubmission(ctx, ann.ID, directory.Submission{ID: "S2", UndoStatus: directory.UndoFinal}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetDeliveryStatus(ctx, ann.ID, "S2", "bob@example.com", yes); err != nil {
		t.Fatal(err)
	}
	<-annWoken
	// Wakes of one node coalesce: the second write above may have found
	// the first's still pending. Both are in before S2's status is set
	// again, unchanged, and the pg_notify of another change from b, which
	// arrives after anything a sent earlier.
	time.Sleep(100 * time.Millisecond)
	drain(annWoken)
	if err := a.SetDeliveryStatus(ctx, ann.ID, "S2", "bob@example.com", yes); err != nil {
		t.Fatal(err)
	}
	if err := a.PutSieveScript(ctx, bob.ID, "main", "keep;"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-bobWoken:
	case <-time.After(10 * time.Second):
		t.Fatal("bob's watch did not wake")
	}
	select {
	case <-annWoken:
		t.Error("ann's watch woke for an unchanged delivery status, or for bob's script")
	default:
	}
}

// drain empties a watch's channel.
func drain(ch <-chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

// testNodesStartTogether opens one new database from several handles at
// once, as nodes of a cluster starting together do: the migration runs
// once and every node opens.
func testNodesStartTogether(t *testing.T, pg *pgtest.Server) {
	dsn := pg.CreateDB(t)
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		wg.Go(func() {
			d, err := Open(t.Context(), dsn)
			if err == nil {
				err = d.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func testNewerSchema(t *testing.T, pg *pgtest.Server) {
	dsn := pg.CreateDB(t)
	open(t, dsn)
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	if _, err := c.Exec(t.Context(), "UPDATE schema_version SET version = 99"); err != nil {
		t.Fatal(err)
	}
	d, err := Open(t.Context(), dsn)
	if err == nil {
		d.Close()
		t.Fatal("opened a database with a newer schema")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Fatalf("error does not say the schema is newer: %v", err)
	}
}

func testOpenFails(t *testing.T, pg *pgtest.Server) {
	for _, dsn := range []string{
		"postgres://casella:secret@127.0.0.1:0/x?sslmode=bogus",
		strings.Replace(pg.DSN("missing"), "casella@", "casella:secret@", 1),
	} {
		d, err := Open(t.Context(), dsn)
		if err == nil {
			d.Close()
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Fatalf("Open(%q) error shows the password: %v", dsn, err)
		}
	}
}

// TestServerDown checks that a directory whose server is down fails every
// lookup with an error that callers treat as temporary: never "no such
// user", "not local", "invalid" or "bad credentials", which would bounce
// mail or reject a login that is right. Once the server is back the
// same handle works again.
func TestServerDown(t *testing.T) {
	pg := pgtest.Start(t, pgtest.Options{})
	d := open(t, pg.CreateDB(t))
	ctx := t.Context()
	if _, err := d.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddAccount(ctx, "user@example.com", "pw", 0, "cell-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Resolve(ctx, "user@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := pg.Stop("immediate"); err != nil {
		t.Fatal(err)
	}
	permanent := []error{directory.ErrNoSuchUser, directory.ErrNotLocal, directory.ErrInvalid, directory.ErrBadCredentials}
	wantTemporary := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s succeeded with the server down", what)
		}
		for _, p := range permanent {
			if errors.Is(err, p) {
				t.Fatalf("%s with the server down: %v, which wraps %v", what, err, p)
			}
		}
	}
	for _, addr := range []string{"user@example.com", "user+tag@example.com", "nobody@example.com", "user@elsewhere.example"} {
		_, err := d.Resolve(ctx, addr)
		wantTemporary("Resolve("+addr+")", err)
	}
	_, err := d.Authenticate(ctx, "user@example.com", "pw")
	wantTemporary("Authenticate", err)
	_, err = d.IsLocal(ctx, "example.com")
	wantTemporary("IsLocal", err)
	_, err = d.AddAccount(ctx, "new@example.com", "pw", 0, "")
	wantTemporary("AddAccount", err)

	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	r, err := d.Resolve(ctx, "user+tag@example.com")
	if err != nil || len(r) != 1 || r[0].Account.Cell != "cell-1" {
		t.Fatalf("Resolve after the server came back: %+v, %v", r, err)
	}
	if _, err := d.Authenticate(ctx, "user@example.com", "pw"); err != nil {
		t.Fatalf("Authenticate after the server came back: %v", err)
	}
}

func BenchmarkResolve(b *testing.B) {
	pg := pgtest.Start(b, pgtest.Options{Durable: true})
	d, err := Open(b.Context(), pg.CreateDB(b))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	directorytest.BenchResolve(b, d)
}
