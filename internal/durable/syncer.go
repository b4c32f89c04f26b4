package durable

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// A Syncer makes writes durable in groups with syncfs(2), which writes back
// every dirty page and inode of one file system and flushes the disk's
// cache once. An fsync per file flushes it once per file, and each of those
// is a request the disk must finish: on the bench machine's virtual disk,
// SMTP intake with delivery running took 416 messages/s with per-file
// fsyncs and 600-620 with shared syncfs rounds. Writers that arrive while a round runs share the next one,
// and every Syncer open on one file system takes part in the same rounds.
//
// The cost is that a round also writes back whatever else is dirty on the
// file system: keep the data directory off a file system that other
// programs write much to.
//
// syncfs reports a writeback error once to each open file description
// (Linux 5.8 and later; before, it reported none), and a round may write
// back, and fail, pages that a writer dirtied before the round it waits
// for. So a writer takes a Ticket before it writes, and Sync fails if any
// round that ended after the ticket failed, not only its own.
type Syncer struct {
	g    *group
	once sync.Once
}

// Ticket marks the moment a writer began: Sync fails if a round that
// ended after it failed.
type Ticket uint64

// group is the shared state of the Syncers of one file system.
type group struct {
	dev    uint64
	refs   int      // open Syncers; guarded by groups.mu
	dir    *os.File // a directory on the file system, held open for its error cursor
	syncfs func() error

	mu       sync.Mutex
	cond     *sync.Cond
	busy     bool   // a round is syncing
	waiting  *round // the round that starts next; callers join it
	ended    uint64 // rounds ended
	failedAt uint64 // number of the last round that failed, 0 for none
	failErr  error
}

type round struct {
	callers int
	started bool
	done    chan struct{}
}

// groups holds the groups of the file systems that have open Syncers. A
// group leaves when its last Syncer closes, so that an unmounted file
// system, whose device number the kernel may give to another, is not
// held or mistaken for it.
var groups = struct {
	mu sync.Mutex
	m  map[uint64]*group
}{m: map[uint64]*group{}}

// OpenSyncer returns a Syncer for the file system holding dir. Close
// releases it.
func OpenSyncer(dir string) (*Syncer, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return nil, fmt.Errorf("open syncer: %w", &os.PathError{Op: "stat", Path: dir, Err: err})
	}
	groups.mu.Lock()
	defer groups.mu.Unlock()
	g := groups.m[st.Dev]
	if g == nil {
		f, err := os.Open(dir)
		if err != nil {
			return nil, fmt.Errorf("open syncer: %w", err)
		}
		g = &group{dev: st.Dev, dir: f}
		g.syncfs = func() error { return unix.Syncfs(int(f.Fd())) }
		g.cond = sync.NewCond(&g.mu)
		groups.m[st.Dev] = g
	}
	g.refs++
	return &Syncer{g: g}, nil
}

// Close releases the Syncer. Writes it made durable stay durable.
func (s *Syncer) Close() error {
	var err error
	s.once.Do(func() {
		groups.mu.Lock()
		defer groups.mu.Unlock()
		if s.g.refs--; s.g.refs == 0 {
			delete(groups.m, s.g.dev)
			err = s.g.dir.Close()
		}
	})
	return err
}

// Begin returns the ticket for writes about to start.
func (s *Syncer) Begin() Ticket {
	g := s.g
	g.mu.Lock()
	defer g.mu.Unlock()
	return Ticket(g.ended)
}

// Sync returns once a round that started after the call has ended, which
// makes everything written on the file system before the call durable. It
// returns an error if that round or any other that ended after t failed.
func (s *Syncer) Sync(t Ticket) error {
	g := s.g
	g.mu.Lock()
	r := g.waiting
	if r == nil {
		r = &round{done: make(chan struct{})}
		g.waiting = r
	}
	r.callers++
	for !r.started {
		if !g.busy {
			// Lead the round: everyone who joined it wrote before now.
			g.busy, r.started, g.waiting = true, true, nil
			g.mu.Unlock()
			err := g.syncfs()
			g.mu.Lock()
			g.ended++
			if err != nil {
				g.failedAt, g.failErr = g.ended, err
			}
			g.busy = false
			close(r.done)
			g.cond.Broadcast()
			break
		}
		g.cond.Wait()
	}
	g.mu.Unlock()
	<-r.done
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failedAt > uint64(t) {
		return fmt.Errorf("sync file system of %s: %w", g.dir.Name(), g.failErr)
	}
	return nil
}

// Rounds returns the number of rounds the file system's Syncers have
// ended.
func (s *Syncer) Rounds() uint64 {
	g := s.g
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ended
}

// WriteFile writes the parts to a new file named path and returns once a
// round has made the bytes and the name durable, one round where an fsync
// before the link and a sync of the name after it would take two. On
// error, no file remains under path.
//
// Unlike the package's WriteFile, the file is named before its bytes are
// durable. A killed process leaves the page cache, and so the file, whole;
// but after a power loss a file whose WriteFile had not returned may be
// there, torn. Use it only for files that readers verify, as the spool
// verifies its entries' checksums and the blob store its blobs' keys: a
// torn file is caught, and its writer never reported it stored.
func (s *Syncer) WriteFile(path, tmpDir string, parts ...[]byte) error {
	t := s.Begin()
	if err := write(path, tmpDir, parts, nil); err != nil {
		return err
	}
	if err := s.Sync(t); err != nil {
		// Not known to be durable: take it back.
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return errors.Join(err, rerr)
		}
		return err
	}
	return nil
}
