package replicated

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"casella/internal/blob"
)

// walkPage is how many entries are taken from each replica per round of
// Walk's merge.
const walkPage = 1000

var errPageFull = errors.New("page full")

// Walk lists the union of the replicas' blobs in key order, each key once,
// with the largest size and newest ModTime the replicas report. A replica
// that fails to list is left out, with a warning, so that one broken
// backend does not stop a scan of the others; Walk fails only when every
// replica does.
//
// The merge goes in rounds: each replica lists up to walkPage keys after
// the cursor, and the keys up to the smallest last key of a full page are
// complete in every listing, so they are emitted and the cursor moves
// there.
func (s *Store) Walk(ctx context.Context, after blob.Key, fn func(blob.Info) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("walk blobs: %w", err)
	}
	live := make([]bool, len(s.replicas))
	for i := range live {
		live[i] = true
	}
	cursor := after
	for {
		merged := map[blob.Key]blob.Info{}
		var bound blob.Key // "" means no replica had a full page: the listings are complete
		answered := 0
		var errs []error
		for i, r := range s.replicas {
			if !live[i] {
				continue
			}
			n := 0
			var last blob.Key
			err := r.Store.Walk(ctx, cursor, func(info blob.Info) error {
				if cur, ok := merged[info.Key]; ok {
					info.Size = max(info.Size, cur.Size)
					if cur.ModTime.After(info.ModTime) {
						info.ModTime = cur.ModTime
					}
				}
				merged[info.Key] = info
				last = info.Key
				n++
				if n == walkPage {
					return errPageFull
				}
				return nil
			})
			if ctx.Err() != nil {
				return fmt.Errorf("walk blobs: %w", ctx.Err())
			}
			if err != nil && !errors.Is(err, errPageFull) {
				live[i] = false
				errs = append(errs, fmt.Errorf("replica %s: %w", r.Name, err))
				s.log.Warn("blob replica cannot be listed; walking the others", "replica", r.Name, "err", err)
				continue
			}
			answered++
			if n == walkPage && (bound == "" || last < bound) {
				bound = last
			}
		}
		if answered == 0 {
			return fmt.Errorf("walk blobs: no replica can be listed: %w", errors.Join(errs...))
		}
		keys := make([]blob.Key, 0, len(merged))
		for k := range merged {
			if bound == "" || k <= bound {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("walk blobs: %w", err)
			}
			if err := fn(merged[k]); err != nil {
				return err
			}
		}
		if bound == "" {
			return nil
		}
		cursor = bound
	}
}
