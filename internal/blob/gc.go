package blob

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// CollectResult reports a garbage collection.
type CollectResult struct {
	Scanned int   // blobs looked at
	Removed int   // blobs deleted
	Freed   int64 // bytes of the deleted blobs
}

// Collect deletes the blobs of s that nothing references and that were last
// Put more than grace ago. referenced reports whether a blob is still in
// use, typically the mailbox store's BlobReferenced.
//
// The grace period protects a delivery in progress: it Puts the message's
// blob before committing the message to the mailbox store, so for a moment
// the blob exists unreferenced. Because Put of content that is already
// stored refreshes its ModTime, a blob that an old, about to be collected
// message shares with a new delivery is protected the same way. The grace
// period must therefore be longer than any delivery takes from Put to
// commit.
//
// Collect never deletes on doubt: an error from referenced or from the
// store stops the collection, and the result counts what was done until
// then. Just before deleting, Collect looks at the blob's ModTime again, so
// a Put that refreshed it during the scan keeps the blob.
func Collect(ctx context.Context, s Store, referenced func(context.Context, Key) (bool, error), grace time.Duration) (CollectResult, error) {
	var res CollectResult
	if grace < 0 {
		return res, fmt.Errorf("collect blobs: negative grace period %v", grace)
	}
	cutoff := time.Now().Add(-grace)
	err := s.Walk(ctx, "", func(info Info) error {
		res.Scanned++
		if !info.ModTime.Before(cutoff) {
			return nil
		}
		used, err := referenced(ctx, info.Key)
		if err != nil {
			return fmt.Errorf("check references of blob %s: %w", info.Key, err)
		}
		if used {
			return nil
		}
		cur, err := s.Stat(ctx, info.Key)
		if errors.Is(err, ErrNotFound) {
			return nil // removed meanwhile, by another collection
		}
		if err != nil {
			return fmt.Errorf("stat blob %s before removing it: %w", info.Key, err)
		}
		if !cur.ModTime.Before(cutoff) {
			return nil
		}
		if err := s.Delete(ctx, info.Key); err != nil {
			return fmt.Errorf("remove blob %s: %w", info.Key, err)
		}
		res.Removed++
		res.Freed += cur.Size
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("collect blobs: %w", err)
	}
	return res, nil
}
