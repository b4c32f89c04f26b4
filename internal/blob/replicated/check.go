package replicated

import (
	"context"
	"fmt"
	"sync"

	"casella/internal/blob"
)

// Copy is what one replica holds of a blob, as Check found it.
type Copy struct {
	Replica   string
	Err       error // nil: a good copy; else why it is bad (missing, corrupt, unreadable)
	Repaired  bool  // a bad copy was rewritten from a good one
	RepairErr error // the rewrite failed; the replica is hinted if the hint could be recorded
}

// Checked is the state of one blob on every replica.
type Checked struct {
	Key    blob.Key
	Size   int64 // of a good copy; 0 when there is none
	Copies []Copy
	Good   int // replicas that held a good copy before any repair
}

// Healthy reports whether every replica holds a good copy now.
func (c Checked) Healthy() bool {
	for _, cp := range c.Copies {
		if cp.Err != nil && !cp.Repaired {
			return false
		}
	}
	return true
}

// Bad returns the number of bad copies found, repaired or not.
func (c Checked) Bad() int {
	return len(c.Copies) - c.Good
}

// Check reads and verifies the blob on every replica and, when repair is
// set and a good copy exists, rewrites the bad ones from it. It returns an
// error only when ctx ends; what it finds is in the result.
func (s *Store) Check(ctx context.Context, key blob.Key, repair bool) (Checked, error) {
	c := Checked{Key: key, Copies: make([]Copy, len(s.replicas))}
	datas := make([][]byte, len(s.replicas))
	var wg sync.WaitGroup
	for i, r := range s.replicas {
		c.Copies[i].Replica = r.Name
		wg.Go(func() {
			datas[i], c.Copies[i].Err = r.Store.Get(ctx, key)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return c, fmt.Errorf("check blob %s: %w", key, err)
	}
	var good []byte
	for i, cp := range c.Copies {
		if cp.Err == nil {
			c.Good++
			good = datas[i]
		} else {
			s.metrics.replicaError(cp.Replica, "check")
		}
	}
	if good == nil {
		return c, nil
	}
	c.Size = int64(len(good))
	if !repair {
		return c, nil
	}
	for i := range c.Copies {
		cp := &c.Copies[i]
		if cp.Err == nil {
			continue
		}
		if err := s.repair(ctx, i, key, good); err != nil {
			cp.RepairErr = err
			s.hintOrLog(cp.Replica, key, err.Error())
			continue
		}
		cp.Repaired = true
		s.log.Warn("blob replica repaired", "replica", cp.Replica, "key", key, "was", cp.Err)
	}
	return c, nil
}
