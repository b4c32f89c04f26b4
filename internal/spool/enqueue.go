package spool

import (
	"context"
	"fmt"
	"path/filepath"
)

// Enqueue stores a message with its envelope and returns its id. When it
// returns nil the entry is on stable storage (DESIGN.md invariant 1). It
// returns ErrFull when the spool's limits would be exceeded; on any other
// error (a full disk wraps syscall.ENOSPC) no part of the entry remains.
// Enqueue keeps no reference to data once it returns.
func (s *Spool) Enqueue(ctx context.Context, env Envelope, data []byte) (string, error) {
	id := s.newID()
	if err := s.enqueue(ctx, id, env, data); err != nil {
		return "", err
	}
	return id, nil
}

// enqueue stores an entry under id, which is new.
func (s *Spool) enqueue(ctx context.Context, id string, env Envelope, data []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("spool: enqueue: %w", err)
	}
	if err := checkEnvelope(env); err != nil {
		return fmt.Errorf("spool: enqueue: %w", err)
	}
	env.Recipients = append([]Recipient(nil), env.Recipients...)
	for i := range env.Recipients {
		env.Recipients[i].Done, env.Recipients[i].Failed, env.Recipients[i].Warned = false, "", false
	}
	if env.Received.IsZero() {
		env.Received = s.opts.Now()
	}
	head, err := encodeHead(env, data)
	if err != nil {
		return fmt.Errorf("spool: enqueue: %w", err)
	}
	size := int64(len(head) + len(data))
	if err := s.reserve(size); err != nil {
		return err
	}
	defer s.unreserve(size)

	final := s.msgPath(id)
	if err := s.qsync.WriteFile(final, filepath.Join(s.dir, tmpDir), head, data); err != nil {
		// Not known to be durable, and taken back: the sender will retry.
		return fmt.Errorf("spool: write entry: %w", err)
	}

	e := &Entry{ID: id, Envelope: env, Size: int64(len(data))}
	s.mu.Lock()
	s.sizes[id] = size
	s.bytes += size
	s.fresh = append(s.fresh, e)
	s.mu.Unlock()
	s.wake()
	return nil
}

// reserve claims room for an entry of size bytes, or returns ErrFull.
func (s *Spool) reserve(size int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.opts.MaxEntries; n > 0 && len(s.sizes)+s.resN+1 > n {
		return fmt.Errorf("%w: %d entries", ErrFull, len(s.sizes))
	}
	if n := s.opts.MaxBytes; n > 0 && s.bytes+s.resBytes+size > n {
		return fmt.Errorf("%w: %d bytes", ErrFull, s.bytes)
	}
	s.resN++
	s.resBytes += size
	return nil
}

func (s *Spool) unreserve(size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resN--
	s.resBytes -= size
}
