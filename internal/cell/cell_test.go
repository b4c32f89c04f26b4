package cell

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"casella/internal/blob"
	"casella/internal/blob/fs"
	"casella/internal/directory"
	"casella/internal/directory/sqlitedir"
	"casella/internal/spool"
	"casella/internal/store"
	"casella/internal/store/sqlite"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openSQLite returns the Open of an embedded cell in dir: a SQLite store
// and a blob directory.
func openSQLite(dir string) func(context.Context) (*Backends, error) {
	return func(context.Context) (*Backends, error) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		st, err := sqlite.Open(filepath.Join(dir, "mail.db"))
		if err != nil {
			return nil, err
		}
		blobs, err := fs.Open(filepath.Join(dir, "blobs"))
		if err != nil {
			st.Close()
			return nil, err
		}
		return &Backends{Store: st, Blobs: blobs}, nil
	}
}

// fixture is a directory with accounts in cells a and b, in a cell c no
// node knows, and in no cell.
type fixture struct {
	dir              *sqlitedir.Dir
	a, b, lost, none directory.Account
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	d, err := sqlitedir.Open(filepath.Join(t.TempDir(), "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx := context.Background()
	if _, err := d.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: d}
	for _, x := range []struct {
		acct *directory.Account
		addr string
		cell string
	}{{&f.a, "alice", "a"}, {&f.b, "bob", "b"}, {&f.lost, "lost", "c"}, {&f.none, "none", ""}} {
		if *x.acct, err = d.AddAccount(ctx, x.addr+"@example.test", "secret-password", 0, x.cell); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func newRouter(t *testing.T, dir Directory, specs ...Spec) *Router {
	t.Helper()
	r := New(dir, specs, Options{Logger: quiet(), Retry: 10 * time.Millisecond})
	if err := r.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func storeDelivery(key string, acct store.Account, body string) store.Delivery {
	return store.Delivery{Key: key, Account: acct, Message: store.NewMessage{Blob: blob.KeyOf([]byte(body)), Size: int64(len(body))}}
}

func count(t *testing.T, st store.Store, acct store.Account) int64 {
	t.Helper()
	u, err := st.Usage(context.Background(), acct)
	if errors.Is(err, store.ErrNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return u.Messages
}

func TestRouting(t *testing.T) {
	f := newFixture(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	r := newRouter(t, f.dir, Spec{Name: "a", Open: openSQLite(dirA)}, Spec{Name: "b", Open: openSQLite(dirB)})
	ctx := context.Background()
	for _, a := range []directory.Account{f.a, f.b} {
		if err := r.EnsureAccount(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	// A batch over both cells lands each delivery in its own cell.
	res, err := r.DeliverBatch(ctx, []store.Delivery{storeDelivery("1", f.a.ID, "x"), storeDelivery("2", f.b.ID, "yy"), storeDelivery("3", f.a.ID, "zzz")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || res[0].UID != 1 || res[1].UID != 1 || res[2].UID != 2 {
		t.Fatalf("DeliverBatch = %+v", res)
	}
	a, b := r.Cell("a").Backends().Store, r.Cell("b").Backends().Store
	if count(t, a, f.a.ID) != 2 || count(t, b, f.b.ID) != 1 || count(t, b, f.a.ID) != 0 || count(t, a, f.b.ID) != 0 {
		t.Fatal("deliveries did not land in their accounts' cells")
	}
	if u, err := r.Usage(ctx, f.b.ID); err != nil || u.Messages != 1 || u.Bytes != 2 {
		t.Fatalf("Usage of bob through the router = %+v, %v", u, err)
	}

	// An account in a cell this node does not know, or in none: a
	// temporary error that names the account and the cell.
	for _, x := range []struct {
		acct directory.Account
		want string
	}{{f.lost, `cell "c"`}, {f.none, "no cell"}} {
		_, err := r.Mailboxes(ctx, x.acct.ID)
		if !errors.Is(err, ErrNoCell) || !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), x.want) {
			t.Fatalf("Mailboxes of %s = %v, want ErrNoCell naming %s", x.acct.Address, err, x.want)
		}
		if _, err := r.BlobsOf(ctx, x.acct); !errors.Is(err, ErrNoCell) {
			t.Fatalf("BlobsOf %s = %v", x.acct.Address, err)
		}
	}
	// An account the directory does not have is not found.
	if _, err := r.Mailboxes(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Mailboxes of an unknown account = %v", err)
	}

	// Blobs go to the account's cell.
	blobsA, err := r.BlobsOf(ctx, f.a)
	if err != nil {
		t.Fatal(err)
	}
	key, err := blobsA.Put(ctx, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Cell("a").Backends().Blobs.Get(ctx, key); err != nil {
		t.Fatalf("blob not in cell a: %v", err)
	}
	if _, err := r.Cell("b").Backends().Blobs.Get(ctx, key); err == nil {
		t.Fatal("blob of cell a's account in cell b")
	}
}

// TestCellDownAtStart: a cell that cannot be opened leaves the others
// working, fails its own accounts' calls with a temporary error, and
// opens in the background once it can; IDLE watchers taken meanwhile
// follow it.
func TestCellDownAtStart(t *testing.T) {
	f := newFixture(t)
	dirA := t.TempDir()
	// A file where cell b's directory should be makes its store fail to
	// open, until it is removed.
	dirB := filepath.Join(t.TempDir(), "b")
	if err := os.WriteFile(dirB, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRouter(t, f.dir, Spec{Name: "a", Open: openSQLite(dirA)}, Spec{Name: "b", Open: openSQLite(dirB)})
	ctx := context.Background()
	if err := r.EnsureAccount(ctx, f.a.ID); err != nil {
		t.Fatalf("cell a while b is down: %v", err)
	}
	err := r.EnsureAccount(ctx, f.b.ID)
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "cell b") {
		t.Fatalf("cell b's account while b is down: %v", err)
	}
	blobsB, err := r.BlobsOf(ctx, f.b)
	if err != nil {
		t.Fatalf("BlobsOf while the cell is down: %v", err)
	}
	if _, err := blobsB.Put(ctx, []byte("x")); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Put while the cell is down: %v", err)
	}
	wake, stop := r.Watch(f.b.ID)
	defer stop()

	if err := os.Remove(dirB); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.Cell("b").Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("cell b did not open in the background")
	}
	if err := r.EnsureAccount(ctx, f.b.ID); err != nil {
		t.Fatalf("cell b once open: %v", err)
	}
	if _, err := blobsB.Put(ctx, []byte("x")); err != nil {
		t.Fatalf("the session's blob store once the cell is open: %v", err)
	}
	// The watcher fires when the cell opens, and again for a change.
	<-wake
	if _, err := r.Deliver(ctx, storeDelivery("k", f.b.ID, "x")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
	case <-time.After(30 * time.Second):
		t.Fatal("a watcher taken while the cell was down saw no change")
	}
}

// TestDirectoryOutage: an account seen before keeps its route when the
// directory cannot be read; one never seen fails, temporarily.
func TestDirectoryOutage(t *testing.T) {
	f := newFixture(t)
	r := New(f.dir, []Spec{{Name: "a", Open: openSQLite(t.TempDir())}, {Name: "b", Open: openSQLite(t.TempDir())}},
		Options{Logger: quiet(), CacheTTL: time.Nanosecond})
	if err := r.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	if err := r.EnsureAccount(ctx, f.a.ID); err != nil {
		t.Fatal(err)
	}
	f.dir.Close()
	if err := r.EnsureAccount(ctx, f.a.ID); err != nil {
		t.Fatalf("an account seen before, with the directory down: %v", err)
	}
	if err := r.EnsureAccount(ctx, f.b.ID); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("an account never seen, with the directory down: %v", err)
	}
}

// TestDeliverer: the spool handler delivers each recipient in its cell,
// and keeps what it cannot route as a temporary failure.
func TestDeliverer(t *testing.T) {
	f := newFixture(t)
	r := newRouter(t, f.dir, Spec{Name: "a", Open: openSQLite(t.TempDir())}, Spec{Name: "b", Open: openSQLite(t.TempDir())})
	ctx := context.Background()
	e := &spool.Entry{ID: "e1", Envelope: spool.Envelope{From: "x@remote.test", Received: time.Now(), Recipients: []spool.Recipient{
		{Address: f.a.Address, Account: int64(f.a.ID), Cell: "a"},
		{Address: f.b.Address, Account: int64(f.b.ID), Cell: "b"},
		{Address: f.lost.Address, Account: int64(f.lost.ID), Cell: "c"},
	}}}
	data := []byte("Subject: hi\r\n\r\nhello\r\n")
	h := r.Deliverer(quiet())
	if err := h.HandleBatch(ctx, []spool.Task{{Entry: e, Data: data, Rcpt: 0}, {Entry: e, Data: data, Rcpt: 1}}); err != nil {
		t.Fatal(err)
	}
	if count(t, r.Cell("a").Backends().Store, f.a.ID) != 1 || count(t, r.Cell("b").Backends().Store, f.b.ID) != 1 {
		t.Fatal("recipients not delivered in their cells")
	}
	err := h.Handle(ctx, e, data, 2)
	if !errors.Is(err, ErrNoCell) || errors.Is(err, spool.ErrPermanent) || !strings.Contains(err.Error(), f.lost.Address) {
		t.Fatalf("recipient in an unknown cell: %v; want a temporary error naming it", err)
	}
}

// TestEmbedded: one cell "" takes every account without asking the
// directory.
func TestEmbedded(t *testing.T) {
	r := newRouter(t, nil, Spec{Name: "", Open: openSQLite(t.TempDir())})
	if err := r.EnsureAccount(context.Background(), 42); err != nil {
		t.Fatal(err)
	}
}
