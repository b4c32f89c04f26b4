package fs

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"

	"casella/internal/blob"
)

// Walk calls fn for every blob whose key sorts after the given one, in key
// order. The two shard levels are key prefixes, so reading each level's
// directory sorted yields the keys sorted, and whole shards that sort
// before after are skipped without being read. Files that are not blobs
// (the temporary directory, stray names, a key filed under the wrong shard)
// are ignored.
func (s *Store) Walk(ctx context.Context, after blob.Key, fn func(blob.Info) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("walk blobs: %w", err)
	}
	tops, err := readDir(s.dir)
	if err != nil {
		return fmt.Errorf("walk blobs: %w", err)
	}
	for _, top := range tops {
		a := top.Name()
		if !isShard(a) || a < prefix(after, 2) {
			continue
		}
		subs, err := readDir(filepath.Join(s.dir, a))
		if err != nil {
			return fmt.Errorf("walk blobs: %w", err)
		}
		for _, sub := range subs {
			b := sub.Name()
			if !isShard(b) || a+b < prefix(after, 4) {
				continue
			}
			if err := s.walkShard(ctx, a, b, after, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkShard calls fn for the blobs of shard a/b whose keys sort after after.
func (s *Store) walkShard(ctx context.Context, a, b string, after blob.Key, fn func(blob.Info) error) error {
	dir := filepath.Join(s.dir, a, b)
	entries, err := readDir(dir)
	if err != nil {
		return fmt.Errorf("walk blobs: %w", err)
	}
	for _, e := range entries {
		key := blob.Key(e.Name())
		if !key.Valid() || string(key[0:2]) != a || string(key[2:4]) != b || key <= after {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("walk blobs: %w", err)
		}
		info, err := e.Info()
		if errors.Is(err, iofs.ErrNotExist) {
			continue // deleted since the directory was read
		}
		if err != nil {
			return fmt.Errorf("walk blobs: %w", err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		if err := fn(blob.Info{Key: key, Size: info.Size(), ModTime: info.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// readDir lists a directory sorted by name; a directory that does not
// exist (yet) is empty.
func readDir(dir string) ([]os.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil
	}
	return entries, err
}

// isShard reports whether name is a shard directory name: two lower-case
// hex digits.
func isShard(name string) bool {
	return len(name) == 2 && isHex(name[0]) && isHex(name[1])
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
}

// prefix returns the first n bytes of k, or all of k when it is shorter.
func prefix(k blob.Key, n int) string {
	return string(k[:min(n, len(k))])
}
