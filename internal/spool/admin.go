package spool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"casella/internal/durable"
)

// List returns the spool's entries, oldest first, with their retry state.
// Entries that cannot be read are logged and left out; the delivery loop
// moves corrupt ones to corrupt/.
func (s *Spool) List(ctx context.Context) ([]Entry, error) {
	ids, err := s.listIDs()
	if err != nil {
		return nil, err
	}
	entries := make([]Entry, 0, len(ids))
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("spool: list: %w", err)
		}
		e, _, err := s.loadEntry(id)
		if errors.Is(err, ErrNotFound) {
			continue // delivered meanwhile
		}
		if err != nil {
			s.opts.Logger.Warn("spool: skipping unreadable entry", "id", id, "err", err)
			continue
		}
		entries = append(entries, *e)
	}
	return entries, nil
}

// Get returns an entry and its message, verified against its checksum.
func (s *Spool) Get(ctx context.Context, id string) (Entry, []byte, error) {
	if !validID(id) {
		return Entry{}, nil, fmt.Errorf("spool: %w: invalid id %q", ErrNotFound, id)
	}
	b, err := os.ReadFile(s.msgPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return Entry{}, nil, fmt.Errorf("spool: %w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Entry{}, nil, fmt.Errorf("spool: read entry: %w", err)
	}
	env, data, err := decodeEntry(b)
	if err != nil {
		return Entry{}, nil, fmt.Errorf("spool: entry %s: %w", id, err)
	}
	e := &Entry{ID: id, Envelope: env, Size: int64(len(data))}
	s.loadState(e)
	return *e, data, nil
}

// Retry makes an entry due now. A loop running on the directory, in this
// process or another, tries it within Options.PollInterval.
func (s *Spool) Retry(ctx context.Context, id string) error {
	e, _, err := s.loadEntry(id)
	if err != nil {
		return err
	}
	e.NextAttempt = time.Time{}
	if err := s.writeState(e); err != nil {
		return err
	}
	return s.poke(id)
}

// Remove deletes an entry without delivering it. A loop running on the
// directory forgets it within Options.PollInterval; a delivery already in
// progress may still complete.
func (s *Spool) Remove(ctx context.Context, id string) error {
	if !validID(id) {
		return fmt.Errorf("spool: %w: invalid id %q", ErrNotFound, id)
	}
	t := s.qsync.Begin()
	if err := s.removeMsg(id); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("spool: %w: %s", ErrNotFound, id)
	} else if err != nil {
		return fmt.Errorf("spool: remove entry: %w", err)
	}
	s.forget(id)
	if err := os.Remove(s.statePath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("spool: remove entry state: %w", err)
	}
	if err := s.qsync.Sync(t); err != nil {
		return fmt.Errorf("spool: remove entry: %w", err)
	}
	return s.poke(id)
}

// Unsend removes an entry that is still held (Envelope.HoldUntil), as
// Remove does. It returns ErrReleased when the hold has ended or ends
// within the time a loop in another process may take to see the removal
// (Options.PollInterval and a second): the entry may then be in delivery
// already, and the sender must be told it could not be taken back.
func (s *Spool) Unsend(ctx context.Context, id string) error {
	e, _, err := s.loadEntry(id)
	if err != nil {
		return err
	}
	if e.Envelope.HoldUntil.Sub(s.opts.Now()) < s.opts.PollInterval+time.Second {
		return fmt.Errorf("spool: unsend %s: %w", id, ErrReleased)
	}
	return s.Remove(ctx, id)
}

// poke asks the loop to look at an entry again.
func (s *Spool) poke(id string) error {
	if err := os.WriteFile(s.pokePath(id), nil, 0o600); err != nil {
		return fmt.Errorf("spool: notify delivery loop: %w", err)
	}
	s.wake()
	return nil
}

// loadEntry reads an entry's envelope and state, not its message, and
// returns the size its file should have.
func (s *Spool) loadEntry(id string) (*Entry, int64, error) {
	if !validID(id) {
		return nil, 0, fmt.Errorf("spool: %w: invalid id %q", ErrNotFound, id)
	}
	f, err := os.Open(s.msgPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("spool: %w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("spool: open entry: %w", err)
	}
	defer f.Close()
	env, h, err := readEnvelope(f)
	if err != nil {
		return nil, 0, fmt.Errorf("spool: entry %s: %w", id, err)
	}
	e := &Entry{ID: id, Envelope: env, Size: h.dataLen}
	s.loadState(e)
	return e, int64(h.size+h.envLen) + h.dataLen, nil
}

// loadState applies an entry's side file, if any. An unreadable side file
// is logged and ignored: recipients are then tried again, which
// idempotent handlers absorb.
func (s *Spool) loadState(e *Entry) {
	b, err := os.ReadFile(s.statePath(e.ID))
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err == nil {
		err = decodeState(b, e)
	}
	if err != nil {
		s.opts.Logger.Warn("spool: ignoring unreadable entry state", "id", e.ID, "err", err)
	}
}

// writeState replaces an entry's side file atomically. The new name is not
// followed by a directory sync: after a crash the previous state may come
// back, which only repeats idempotent work.
func (s *Spool) writeState(e *Entry) error {
	b, err := json.Marshal(stateOf(e))
	if err != nil {
		return fmt.Errorf("spool: encode state: %w", err)
	}
	if err := durable.WriteFile(s.statePath(e.ID), filepath.Join(s.dir, tmpDir), b); err != nil {
		return fmt.Errorf("spool: write state: %w", err)
	}
	return nil
}

// quarantine moves a corrupt entry out of the queue, keeping its bytes for
// the operator.
func (s *Spool) quarantine(id string) error {
	for _, name := range []string{id + ".msg", id + ".state"} {
		err := os.Rename(filepath.Join(s.dir, queueDir, name), filepath.Join(s.dir, corruptDir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("spool: quarantine entry %s: %w", id, err)
		}
	}
	s.forget(id)
	return nil
}
