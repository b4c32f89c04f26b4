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
	ok, err := refresh(path, data)
	if err != nil {
		return "", fmt.Errorf("put blob %s: %w", key, err)
	}
	if ok {
		return key, nil
	}
	if err := s.write(ctx, key, path, data); err != nil {
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

// write stores data at path through a synced temporary file and a rename,
// and syncs the directories that make the new name durable.
func (s *Store) write(ctx context.Context, key blob.Key, path string, data []byte) error {
	f, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	tmpName := f.Name()
	renamed := false
	defer func() {
		if !renamed {
			f.Close()
			os.Remove(tmpName)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write temporary file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync temporary file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close temporary file: %w", err)
	}
	// Last chance to give up without leaving a blob behind.
	if err := ctx.Err(); err != nil {
		return err
	}
	shard := filepath.Dir(path)
	if err := s.makeShard(shard); err != nil {
		return err
	}
	err = os.Rename(tmpName, path)
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
		err = os.Rename(tmpName, path)
	}
	if err != nil {
		return fmt.Errorf("rename into place: %w", err)
	}
	renamed = true
	if err := syncDir(shard); err != nil {
		return err
	}
	return nil
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
		if err := syncDir(s.dir); err != nil {
			return err
		}
	}
	if err := syncDir(parent); err != nil {
		return err
	}
	s.mu.Lock()
	s.synced[parent] = true
	s.synced[shard] = true
	s.mu.Unlock()
	return nil
}

// syncDir fsyncs a directory, making the entries created in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory to sync: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
