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
	t := s.sync.Begin()
	ok, err := refresh(path, data)
	if err != nil {
		return "", fmt.Errorf("put blob %s: %w", key, err)
	}
	if ok {
		// The file may be another Put's, named but still waiting for the
		// round that makes its name durable.
		if err := s.sync.Sync(t); err != nil {
			return "", fmt.Errorf("put blob %s: %w", key, err)
		}
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

// write stores data at path, bytes and name durable when write returns
// (durable.Syncer).
func (s *Store) write(ctx context.Context, path string, data []byte) error {
	// Last chance to give up without leaving a blob behind.
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.sync.WriteFile(path, s.tmp, data)
	if errors.Is(err, iofs.ErrNotExist) {
		// The first blob of its shard, or the shard was removed behind our
		// back (by hand, or a restore). The write's round, which begins
		// after the directories are made, makes them durable too.
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return fmt.Errorf("create shard directory: %w", err)
		}
		err = s.sync.WriteFile(path, s.tmp, data)
	}
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
