package fs

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"

	"casella/internal/blob"
)

// Get returns the blob's bytes after verifying them against key. A missing
// blob or an invalid key gives an error wrapping blob.ErrNotFound; stored
// bytes that do not hash to key give a *blob.CorruptError and no bytes.
func (s *Store) Get(ctx context.Context, key blob.Key) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get blob %s: %w", key, err)
	}
	if !key.Valid() {
		return nil, fmt.Errorf("get blob %q: invalid key: %w", key, blob.ErrNotFound)
	}
	data, err := os.ReadFile(s.path(key))
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, fmt.Errorf("get blob %s: %w", key, blob.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get blob %s: %w", key, err)
	}
	if err := blob.Verify(key, data); err != nil {
		return nil, err
	}
	return data, nil
}

// Stat returns the blob's size and modification time without reading it.
func (s *Store) Stat(ctx context.Context, key blob.Key) (blob.Info, error) {
	if err := ctx.Err(); err != nil {
		return blob.Info{}, fmt.Errorf("stat blob %s: %w", key, err)
	}
	if !key.Valid() {
		return blob.Info{}, fmt.Errorf("stat blob %q: invalid key: %w", key, blob.ErrNotFound)
	}
	info, err := os.Stat(s.path(key))
	if errors.Is(err, iofs.ErrNotExist) {
		return blob.Info{}, fmt.Errorf("stat blob %s: %w", key, blob.ErrNotFound)
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("stat blob %s: %w", key, err)
	}
	if !info.Mode().IsRegular() {
		return blob.Info{}, fmt.Errorf("stat blob %s: %s is not a regular file", key, s.path(key))
	}
	return blob.Info{Key: key, Size: info.Size(), ModTime: info.ModTime()}, nil
}

// Delete removes the blob. Deleting a missing blob, or one with an invalid
// key (which cannot exist), is not an error.
func (s *Store) Delete(ctx context.Context, key blob.Key) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete blob %s: %w", key, err)
	}
	if !key.Valid() {
		return nil
	}
	if err := os.Remove(s.path(key)); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", key, err)
	}
	return nil
}
