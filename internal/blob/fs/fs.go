// Package fs implements blob.Store on a local filesystem directory.
//
// Layout: a blob with key k lives at dir/k[0:2]/k[2:4]/k, two levels of
// 256 shards each, so that no directory grows past what a filesystem lists
// quickly. Blobs are written unnamed and linked into place (package
// durable); dir/tmp holds temporary files where the file system cannot.
//
// Implementation notes:
//   - Durability (DESIGN.md invariant 1): Put returns nil only after the
//     blob's bytes were written, the file linked into its shard directory,
//     and then bytes and name made durable by a round of syncfs shared
//     with every other writer on the file system (durable.Syncer). The
//     round also covers a shard directory that this Put or a concurrent
//     one has just created.
//   - A blob file is never written in place: it appears whole, by link or
//     rename, or not at all. Only a power loss can leave one torn, of a
//     Put that had not returned and so is referenced by no message; a Get
//     would find it corrupt, and the next Put of that content replaces it.
//     A Put that finds an existing file with exactly the same bytes only
//     refreshes its modification time (the garbage collection grace period
//     counts from it) and waits for a sync round, since the file may be a
//     concurrent Put's whose round has not ended; a file with other bytes
//     is a corrupt copy and is replaced, which is how a repair rewrites a
//     bad copy.
//   - Every Get verifies the SHA-256 of what it read and returns a
//     *blob.CorruptError, never the bytes, on a mismatch. A truncated file
//     is simply a mismatch.
//   - A key is turned into a path only after blob.Key.Valid accepted it, so
//     no caller-supplied string ever reaches the filesystem.
//   - Deletes are not fsync'd: a deleted blob that reappears after a crash
//     is only garbage for the next collection.
package fs

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"time"

	"casella/internal/blob"
	"casella/internal/durable"
)

// staleTemp is the age after which a file left in the temporary directory
// belongs to no Put in progress, only to a crashed one.
const staleTemp = time.Hour

// Store is a blob.Store in a filesystem directory. It is safe for
// concurrent use, and several Stores (or processes) may share a directory.
type Store struct {
	dir string
	tmp string

	sync *durable.Syncer
}

var _ blob.Store = (*Store)(nil)

// Open opens the blob store in dir, creating the directory if needed. It
// removes temporary files that crashed Puts left behind and checks that the
// directory is writable, so that a misconfigured directory fails at start
// and not at the first delivery.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("open blob store: no directory given")
	}
	s := &Store{dir: dir, tmp: filepath.Join(dir, "tmp")}
	if err := os.MkdirAll(s.tmp, 0o750); err != nil {
		return nil, fmt.Errorf("open blob store %s: %w", dir, err)
	}
	if err := s.removeStaleTemps(time.Now().Add(-staleTemp)); err != nil {
		return nil, fmt.Errorf("open blob store %s: %w", dir, err)
	}
	probe, err := os.CreateTemp(s.tmp, "probe-*")
	if err != nil {
		return nil, fmt.Errorf("open blob store %s: directory is not writable: %w", dir, err)
	}
	name := probe.Name()
	probe.Close()
	if err := os.Remove(name); err != nil {
		return nil, fmt.Errorf("open blob store %s: remove write probe: %w", dir, err)
	}
	if s.sync, err = durable.OpenSyncer(dir); err != nil {
		return nil, fmt.Errorf("open blob store %s: %w", dir, err)
	}
	return s, nil
}

// Close releases the store. Blobs put are durable already.
func (s *Store) Close() error {
	return s.sync.Close()
}

// removeStaleTemps removes files in the temporary directory last modified
// before cutoff. Younger files may belong to a Put in progress in another
// process sharing the directory.
func (s *Store) removeStaleTemps(cutoff time.Time) error {
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return fmt.Errorf("list temporary files: %w", err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if errors.Is(err, iofs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("stat temporary file: %w", err)
		}
		if !info.Mode().IsRegular() || !info.ModTime().Before(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(s.tmp, e.Name())); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return fmt.Errorf("remove stale temporary file: %w", err)
		}
	}
	return nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string {
	return s.dir
}

// Path returns the file that holds the blob with key, or "" when key is not
// a valid key. It exists for tools and tests that inspect or damage files.
func (s *Store) Path(key blob.Key) string {
	if !key.Valid() {
		return ""
	}
	return s.path(key)
}

// path returns the file of a key that the caller has checked to be valid.
func (s *Store) path(key blob.Key) string {
	k := string(key)
	return filepath.Join(s.dir, k[0:2], k[2:4], k)
}
