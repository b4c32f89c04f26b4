package replicated

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"casella/internal/blob"
	"casella/internal/durable"
)

// hints is the durable record of the blobs each replica misses: one empty
// file per blob, dir/<replica>/<key>. A file is the whole entry, so a
// crash leaves either a hint or none, never half of one, and hinting a
// blob twice is one hint.
type hints struct {
	dir string

	mu      sync.Mutex
	pending map[string]int // hints per replica
}

func openHints(dir string, replicas []Replica) (*hints, error) {
	if dir == "" {
		return nil, errors.New("no hint directory given")
	}
	h := &hints{dir: dir, pending: map[string]int{}}
	for _, r := range replicas {
		rdir := filepath.Join(dir, r.Name)
		if err := os.MkdirAll(rdir, 0o750); err != nil {
			return nil, fmt.Errorf("hint directory: %w", err)
		}
		if err := durable.SyncDir(dir); err != nil {
			return nil, fmt.Errorf("hint directory: %w", err)
		}
		keys, err := h.list(r.Name)
		if err != nil {
			return nil, err
		}
		h.pending[r.Name] = len(keys)
	}
	return h, nil
}

// add records durably that replica misses key.
func (h *hints) add(replica string, key blob.Key) error {
	rdir := filepath.Join(h.dir, replica)
	f, err := os.OpenFile(filepath.Join(rdir, string(key)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if errors.Is(err, iofs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("record hint: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("record hint: %w", err)
	}
	if err := durable.SyncDir(rdir); err != nil {
		return fmt.Errorf("record hint: %w", err)
	}
	h.mu.Lock()
	h.pending[replica]++
	h.mu.Unlock()
	return nil
}

// remove forgets a hint. It is not synced: a hint that comes back after a
// crash is replayed once more, which rewrites a good copy and does no harm.
func (h *hints) remove(replica string, key blob.Key) error {
	err := os.Remove(filepath.Join(h.dir, replica, string(key)))
	if errors.Is(err, iofs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove hint: %w", err)
	}
	h.mu.Lock()
	h.pending[replica]--
	h.mu.Unlock()
	return nil
}

// list returns the keys hinted for replica, in key order. Files that are
// not keys are ignored.
func (h *hints) list(replica string) ([]blob.Key, error) {
	entries, err := os.ReadDir(filepath.Join(h.dir, replica))
	if err != nil {
		return nil, fmt.Errorf("list hints: %w", err)
	}
	var keys []blob.Key
	for _, e := range entries {
		if k := blob.Key(e.Name()); k.Valid() {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// count returns the number of hints of replica.
func (h *hints) count(replica string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pending[replica]
}

// Pending returns how many blobs the replica named name is hinted to miss.
func (s *Store) Pending(name string) int {
	return s.hints.count(name)
}

func (s *Store) replayLoop(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.Replay(s.bg); err != nil && s.bg.Err() == nil {
			s.log.Info("blob hints not all replayed; retrying later", "err", err, "in", interval)
		}
		select {
		case <-s.bg.Done():
			return
		case <-t.C:
		}
	}
}

// Replay copies every hinted blob to the replica that misses it, from a
// replica that has a good copy, and forgets the hints that are done. A
// replica that fails a copy is left for the next replay; the others go on.
// A hinted blob that no replica has any more was deleted meanwhile, and
// its hint is dropped.
func (s *Store) Replay(ctx context.Context) error {
	var errs []error
	for i, r := range s.replicas {
		if s.hints.count(r.Name) == 0 {
			continue
		}
		n, err := s.replayReplica(ctx, i)
		if n > 0 {
			s.log.Info("blob hints replayed", "replica", r.Name, "blobs", n)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("replica %s: %w", r.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Store) replayReplica(ctx context.Context, i int) (int, error) {
	name := s.replicas[i].Name
	keys, err := s.hints.list(name)
	if err != nil {
		return 0, err
	}
	done := 0
	var unreadable []error
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		data, _, err := s.read(ctx, key, i)
		if errors.Is(err, blob.ErrNotFound) {
			if err := s.hints.remove(name, key); err != nil {
				return done, err
			}
			continue
		}
		if err != nil {
			unreadable = append(unreadable, err)
			continue
		}
		if err := s.repair(ctx, i, key, data); err != nil {
			return done, err
		}
		if err := s.hints.remove(name, key); err != nil {
			return done, err
		}
		done++
	}
	if len(unreadable) > 0 {
		return done, fmt.Errorf("%d hinted blobs have no good copy to replay from: %w", len(unreadable), errors.Join(unreadable...))
	}
	return done, nil
}
