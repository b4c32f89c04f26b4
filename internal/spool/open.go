package spool

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"casella/internal/durable"
)

// Spool is a spool directory. Its methods are safe for concurrent use, and
// several Spool values, in one process or several, may share a directory;
// only one of them runs the delivery loop at a time.
type Spool struct {
	dir      string
	opts     Options
	qsync    *durable.Syncer // makes the queue's new and removed entries durable
	instance string          // random, makes ids unique across processes

	mu       sync.Mutex
	lastNano int64
	sizes    map[string]int64 // entry id -> size of its file, as this process knows
	bytes    int64
	resN     int   // entries reserved by Enqueues in progress
	resBytes int64 // and their bytes
	fresh    []*Entry
	notify   chan struct{} // capacity 1: fresh entries or a poke

	loopMu sync.Mutex
	loop   LoopState
}

// Subdirectories of a spool.
const (
	queueDir   = "queue"
	tmpDir     = "tmp"
	pokeDir    = "poke"
	corruptDir = "corrupt"
	lockFile   = "lock"
)

// tempGrace is how old a file in tmp/ must be before recovery removes it,
// so that a loop starting up never removes a file another process is
// still writing.
const tempGrace = 10 * time.Minute

// Open opens the spool in dir, creating it if needed.
func Open(dir string, opts Options) (*Spool, error) {
	opts.setDefaults()
	for _, d := range []string{queueDir, tmpDir, pokeDir, corruptDir, sentDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("spool: create directory: %w", err)
		}
	}
	qsync, err := durable.OpenSyncer(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var inst [6]byte
	rand.Read(inst[:])
	s := &Spool{
		dir:      dir,
		opts:     opts,
		qsync:    qsync,
		instance: hex.EncodeToString(inst[:]),
		sizes:    map[string]int64{},
		notify:   make(chan struct{}, 1),
	}
	ids, err := s.listIDs()
	if err != nil {
		qsync.Close()
		return nil, err
	}
	for _, id := range ids {
		if fi, err := os.Stat(s.msgPath(id)); err == nil {
			s.sizes[id] = fi.Size()
			s.bytes += fi.Size()
		}
	}
	return s, nil
}

// Close releases the spool. Call it after Run has returned; entries
// enqueued are durable already.
func (s *Spool) Close() error {
	return s.qsync.Close()
}

func (s *Spool) msgPath(id string) string   { return filepath.Join(s.dir, queueDir, id+".msg") }
func (s *Spool) statePath(id string) string { return filepath.Join(s.dir, queueDir, id+".state") }
func (s *Spool) pokePath(id string) string  { return filepath.Join(s.dir, pokeDir, id) }

// idLen is the length of an id: 20 digits of Unix nanoseconds, a dash and
// 12 hex digits of the instance that made it; or, for a keyed entry
// (keyed.go), a 'k' and 12 hex digits of its key's hash.
const idLen = 20 + 1 + 12

// newID returns a fresh id. Ids of one instance strictly increase, and the
// zero-padded timestamp makes string order arrival order.
func (s *Spool) newID() string {
	s.mu.Lock()
	n := s.opts.Now().UnixNano()
	if n <= s.lastNano {
		n = s.lastNano + 1
	}
	s.lastNano = n
	s.mu.Unlock()
	return fmt.Sprintf("%020d-%s", n, s.instance)
}

// validID reports whether id has the form newID makes; anything else, in
// a file name or from the CLI, is rejected before it reaches a path.
func validID(id string) bool {
	if len(id) != idLen || id[20] != '-' && id[20] != keyedMark {
		return false
	}
	for i, c := range []byte(id) {
		switch {
		case i == 20:
		case i < 20 && '0' <= c && c <= '9':
		case i > 20 && ('0' <= c && c <= '9' || 'a' <= c && c <= 'f'):
		default:
			return false
		}
	}
	return true
}

// idTime returns the arrival time encoded in a valid id.
func idTime(id string) time.Time {
	n, _ := strconv.ParseInt(id[:20], 10, 64)
	return time.Unix(0, n)
}

// listIDs returns the ids of the entry files in queue/, sorted.
func (s *Spool) listIDs() ([]string, error) {
	des, err := os.ReadDir(filepath.Join(s.dir, queueDir))
	if err != nil {
		return nil, fmt.Errorf("spool: list entries: %w", err)
	}
	var ids []string
	for _, de := range des {
		if id, ok := strings.CutSuffix(de.Name(), ".msg"); ok && validID(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Stats returns the spool's depth, size and oldest entry's age as this
// process knows them: its own changes at once, other processes' after the
// running loop's next rescan.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Depth: len(s.sizes), Bytes: s.bytes}
	oldest := ""
	for id := range s.sizes {
		if oldest == "" || id < oldest {
			oldest = id
		}
	}
	if oldest != "" {
		st.OldestAge = max(0, s.opts.Now().Sub(idTime(oldest)))
	}
	return st
}

// known records an entry file in the size index.
func (s *Spool) known(id string, size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.sizes[id]; ok {
		s.bytes -= old
	}
	s.sizes[id] = size
	s.bytes += size
}

// forget removes an entry from the size index.
func (s *Spool) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.sizes[id]; ok {
		s.bytes -= old
		delete(s.sizes, id)
	}
}

// wake tells a loop running in this process to look for work.
func (s *Spool) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}
