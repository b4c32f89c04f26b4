package durable

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

func openSyncer(t *testing.T, dir string) *Syncer {
	t.Helper()
	s, err := OpenSyncer(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fakeSyncfs replaces the group's syncfs with fn for the test.
func fakeSyncfs(t *testing.T, s *Syncer, fn func() error) {
	real := s.g.syncfs
	s.g.syncfs = fn
	t.Cleanup(func() { s.g.syncfs = real })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Callers that arrive while a round runs share the next one, also when
// they hold different Syncers of one file system.
func TestSyncerShares(t *testing.T) {
	dir := t.TempDir()
	a, b := openSyncer(t, dir), openSyncer(t, filepath.Dir(dir))
	if a.g != b.g {
		t.Fatal("two Syncers on one file system do not share rounds")
	}
	release := make(chan struct{})
	var mu sync.Mutex
	rounds := 0
	fakeSyncfs(t, a, func() error {
		mu.Lock()
		rounds++
		first := rounds == 1
		mu.Unlock()
		if first {
			<-release
		}
		return nil
	})
	var wg sync.WaitGroup
	wg.Go(func() { a.Sync(a.Begin()) })
	waitFor(t, "first round to start", func() bool {
		a.g.mu.Lock()
		defer a.g.mu.Unlock()
		return a.g.busy
	})
	const n = 49
	for i := range n {
		s := []*Syncer{a, b}[i%2]
		wg.Go(func() {
			if err := s.Sync(s.Begin()); err != nil {
				t.Error(err)
			}
		})
	}
	waitFor(t, "callers to join the next round", func() bool {
		a.g.mu.Lock()
		defer a.g.mu.Unlock()
		return a.g.waiting != nil && a.g.waiting.callers == n
	})
	close(release)
	wg.Wait()
	if rounds != 2 || a.Rounds() != 2 {
		t.Fatalf("%d syncs, %d rounds for 50 callers, want 2", rounds, a.Rounds())
	}
}

// A failed round fails every writer whose ticket it ended after, also one
// that waited for the next round, which succeeded: the failed round may
// have written back, and lost, that writer's pages, and syncfs reports an
// error only once.
func TestSyncerErrorReachesEarlierTickets(t *testing.T) {
	s := openSyncer(t, t.TempDir())
	eio := syscall.EIO
	fail := make(chan struct{})
	fakeSyncfs(t, s, func() error {
		select {
		case <-fail:
			return nil
		default:
			close(fail)
			return eio
		}
	})
	before := s.Begin()
	if err := s.Sync(s.Begin()); !errors.Is(err, eio) {
		t.Fatalf("Sync through a failing round = %v, want EIO", err)
	}
	if err := s.Sync(before); !errors.Is(err, eio) {
		t.Fatalf("Sync of a ticket taken before the failed round = %v, want EIO", err)
	}
	if err := s.Sync(s.Begin()); err != nil {
		t.Fatalf("Sync of a ticket taken after the failed round = %v", err)
	}
}

// WriteFile takes one round, which finds the file named and whole, and
// takes the file back when that round fails.
func TestSyncerWriteFile(t *testing.T) {
	dir, tmp := t.TempDir(), t.TempDir()
	s := openSyncer(t, dir)
	path := filepath.Join(dir, "entry")
	for _, fail := range []bool{false, true} {
		calls := 0
		fakeSyncfs(t, s, func() error {
			calls++
			if got, err := os.ReadFile(path); err != nil || string(got) != "data" {
				t.Errorf("the round found %q, %v; want the file named and whole", got, err)
			}
			if fail {
				return syscall.EIO
			}
			return nil
		})
		os.Remove(path)
		err := s.WriteFile(path, tmp, []byte("da"), []byte("ta"))
		if calls != 1 {
			t.Errorf("WriteFile ran %d rounds, want 1", calls)
		}
		if !fail {
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("WriteFile with its round failing = %v, want EIO", err)
		}
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the round failed, file is left: %v", err)
		}
	}
}

// The last Close of a file system's Syncers lets it go, so that it can
// be unmounted; a Syncer opened after holds a new group.
func TestSyncerClose(t *testing.T) {
	dir := t.TempDir()
	a := openSyncer(t, dir)
	b, err := OpenSyncer(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil || b.Close() != nil {
		t.Fatalf("Close: %v", err)
	}
	if a.g.refs != 1 {
		t.Fatalf("group holds %d references after a Close, want 1", a.g.refs)
	}
	g := a.g
	a.Close()
	c := openSyncer(t, dir)
	if c.g == g {
		t.Error("a closed group was handed out again")
	}
	if err := c.Sync(c.Begin()); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSyncer(filepath.Join(dir, "missing")); err == nil {
		t.Error("OpenSyncer of a missing directory succeeded")
	}
}
