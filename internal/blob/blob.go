// Package blob stores message contents, content-addressed by SHA-256.
//
// Implementation notes:
//   - A blob's key is the hex SHA-256 of its bytes. Keys are computed by the
//     store on Put, never trusted from a caller.
//   - Every read verifies the bytes against the key before returning them: a
//     mismatch returns a *CorruptError naming the blob and never returns the
//     wrong bytes (DESIGN.md invariant 4).
//   - Put is durable when it returns nil. Putting content that already exists
//     refreshes its modification time, so that garbage collection, which only
//     removes unreferenced blobs older than a grace period, cannot remove a
//     blob that a delivery in progress is about to reference.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Key is the lower-case hex SHA-256 of a blob's content.
type Key string

// KeyOf returns the key of data.
func KeyOf(data []byte) Key {
	sum := sha256.Sum256(data)
	return Key(hex.EncodeToString(sum[:]))
}

// Valid reports whether k has the form of a key: 64 lower-case hex digits.
func (k Key) Valid() bool {
	if len(k) != sha256.Size*2 {
		return false
	}
	for _, c := range []byte(k) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ErrNotFound is returned when no blob has the requested key.
var ErrNotFound = errors.New("blob not found")

// CorruptError reports a blob whose stored bytes do not match its key.
type CorruptError struct {
	Key  Key // the key asked for
	Got  Key // the SHA-256 of the bytes found; empty when the blob could not be read whole
	Size int64
}

func (e *CorruptError) Error() string {
	if e.Got == "" {
		return fmt.Sprintf("blob %s is corrupt: stored content is truncated or unreadable", e.Key)
	}
	return fmt.Sprintf("blob %s is corrupt: stored content hashes to %s", e.Key, e.Got)
}

// Info describes a stored blob.
type Info struct {
	Key     Key
	Size    int64
	ModTime time.Time // last Put of this content
}

// Store is a content-addressed blob store. Implementations are safe for
// concurrent use.
type Store interface {
	// Put stores data and returns its key. The data is on stable storage
	// when Put returns nil.
	Put(ctx context.Context, data []byte) (Key, error)

	// Get returns the blob's bytes after verifying them against key. It
	// returns an error wrapping ErrNotFound when there is no such blob and a
	// *CorruptError when the stored bytes do not match.
	Get(ctx context.Context, key Key) ([]byte, error)

	// Stat returns the blob's size and modification time without reading
	// or verifying its content.
	Stat(ctx context.Context, key Key) (Info, error)

	// Delete removes the blob. Deleting a missing blob is not an error.
	Delete(ctx context.Context, key Key) error

	// Walk calls fn for every stored blob whose key sorts after the given
	// one ("" for all), in key order, so that a scan can resume where it
	// stopped. An error from fn stops the walk and is returned.
	Walk(ctx context.Context, after Key, fn func(Info) error) error
}
