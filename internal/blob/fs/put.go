package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"time"

	"casella/internal/blob"
	"casella/internal/durable"
)

// Put stores data and returns its key. When Put returns nil the bytes are
// on stable storage. Putting content that is already stored refreshes the
// blob's modification time, which restarts the garbage collection grace
// period for a delivery that is about to reference it.
func (s *Store) Put(ctx context.Context, data []byte) (blob.Key, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("put blob: %w", err)
	}
	key := blob.KeyOf(data)
	path := s.path(key)
	ok, err := refresh(path, data)
	if err != nil {
		return "", fmt.Errorf("put blob %s: %w", key, err)
	}
	if ok {
		return key, nil
	}
	if err := s.write(ctx, path, data); err != nil {
		return "", fmt.Errorf("put blob %s in %s: %w", key, s.dir, err)
	}
	return key, nil
}

// refresh reports whether path already holds exactly data, and if so sets
// its modification time to now. A file with other bytes or an unreadable
// one is reported as absent so that the caller replaces it.
func refresh(path string, data []byte) (bool, error) {
	info, err := os.Stat(path)
	if err != nil || !info.Mode().IsRegular() || info.Size() != int64(len(data)) {
		return false, nil
	}
	have, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(have, data) {
		return false, nil
	}
	now := time.Now()
	if err := os.Chtimes(path, now, now); err != nil {
		if errors.Is(err, iofs.ErrNotExist) {
			// Removed since we read it (by a garbage collection that
			// started before this Put): write it again.
			return false, nil
		}
		return false, fmt.Errorf("refresh modification time: %w", err)
	}
	return true, nil
}

// write stores data at path, on stable storage before it has the name
// (package durable), and syncs the shard directory that makes the name
// durable.
func (s *Store) write(ctx context.Context, path string, data []byte) error {
	// Last chance to give up without leaving a blob behind.
	if err := ctx.Err(); err != nil {
		return err
	}
	shard := filepath.Dir(path)
	if err := s.makeShard(shard); err != nil {
		return err
	}
	err := durable.WriteFile(path, s.tmp, data)
	if errors.Is(err, iofs.ErrNotExist) {
		// The shard was removed behind our back (by hand, or a restore):
		// make it again instead of failing every Put into it from now on.
		s.mu.Lock()
		delete(s.synced, shard)
		delete(s.synced, filepath.Dir(shard))
		s.mu.Unlock()
		if err := s.makeShard(shard); err != nil {
			return err
		}
		err = durable.WriteFile(path, s.tmp, data)
	}
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return durable.SyncDir(shard)
}

// makeShard creates the shard directory and its parent if needed and, the
// first time this Store uses them, fsyncs the directories holding their
// entries. A shard seen to exist is not enough: another Put may have just
// created it and not yet synced its parent.
func (s *Store) makeShard(shard string) error {
	s.mu.Lock()
	done := s.synced[shard]
	s.mu.Unlock()
	if done {
		return nil
	}
	parent := filepath.Dir(shard)
	for _, d := range []string{parent, shard} {
		if err := os.Mkdir(d, 0o750); err != nil && !errors.Is(err, iofs.ErrExist) {
			return fmt.Errorf("create shard directory: %w", err)
		}
	}
	s.mu.Lock()
	parentDone := s.synced[parent]
	s.mu.Unlock()
	if !parentDone {
		if err := durable.SyncDir(s.dir); err != nil {
			return err
		}
	}
	if err := durable.SyncDir(parent); err != nil {
		return err
	}
	s.mu.Lock()
	s.synced[parent] = true
	s.synced[shard] = true
	s.mu.Unlock()
	return nil
}
