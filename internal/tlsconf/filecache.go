package tlsconf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/acme/autocert"
)

// FileCache keeps the ACME manager's keys, certificates and challenge
// answers in a directory of one node: the directory is mode 0700 and
// every file 0600, written atomically (writeAtomic), for they hold private
// keys.
type FileCache string

// NewFileCache makes the directory of a FileCache.
func NewFileCache(dir string) (FileCache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("acme: creating %s: %w", dir, err)
	}
	return FileCache(dir), nil
}

var _ autocert.Cache = FileCache("")

// path maps a key to its file, refusing keys that would leave the
// directory.
func (c FileCache) path(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, ".") || strings.ContainsAny(key, "/\\") {
		return "", fmt.Errorf("acme: %q cannot name a file", key)
	}
	return filepath.Join(string(c), key), nil
}

// Get returns the contents of key's file, or autocert.ErrCacheMiss.
func (c FileCache) Get(_ context.Context, key string) ([]byte, error) {
	p, err := c.path(key)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, autocert.ErrCacheMiss
	}
	if err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	return data, nil
}

// Put writes key's file.
func (c FileCache) Put(_ context.Context, key string, data []byte) error {
	p, err := c.path(key)
	if err != nil {
		return err
	}
	return writeAtomic(p, data, 0o600)
}

// Delete removes key's file; a missing one is no error.
func (c FileCache) Delete(_ context.Context, key string) error {
	p, err := c.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("acme: %w", err)
	}
	return nil
}
