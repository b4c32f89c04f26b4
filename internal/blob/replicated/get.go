package replicated

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"casella/internal/blob"
)

// Get returns the first copy that verifies, asking the replicas in order
// and hedging slow ones, and repairs in the background the bad copies it
// met on the way.
func (s *Store) Get(ctx context.Context, key blob.Key) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get blob %s: %w", key, err)
	}
	if !key.Valid() {
		return nil, fmt.Errorf("get blob %q: %w", key, blob.ErrNotFound)
	}
	data, errs, err := s.read(ctx, key, -1)
	if err != nil {
		return nil, err
	}
	var repairCopy []byte // the caller owns data and may change it
	for i, rerr := range errs {
		if rerr == nil {
			continue
		}
		if repairCopy == nil {
			repairCopy = bytes.Clone(data)
		}
		s.repairLater(i, key, repairCopy, rerr)
	}
	return data, nil
}

// read returns the first verified copy of key from the replicas other than
// skip (-1 for none), with the error each replica that was asked and
// failed gave; a nil error means the replica was not asked, or gave the
// copy returned, or was still answering.
func (s *Store) read(ctx context.Context, key blob.Key, skip int) ([]byte, []error, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		i    int
		data []byte
		err  error
	}
	results := make(chan result, len(s.replicas))
	errs := make([]error, len(s.replicas))
	next, pending := 0, 0
	start := func() bool {
		if next == skip {
			next++
		}
		if next >= len(s.replicas) {
			return false
		}
		i := next
		next++
		pending++
		go func() {
			data, err := s.replicas[i].Store.Get(ctx, key)
			results <- result{i, data, err}
		}()
		return true
	}
	start()
	hedge := time.NewTimer(s.hedge)
	defer hedge.Stop()
	for pending > 0 {
		select {
		case r := <-results:
			pending--
			if r.err == nil {
				return r.data, errs, nil
			}
			if ctx.Err() != nil {
				return nil, nil, fmt.Errorf("get blob %s: %w", key, ctx.Err())
			}
			errs[r.i] = r.err
			s.metrics.replicaError(s.replicas[r.i].Name, "get")
			if !errors.Is(r.err, blob.ErrNotFound) {
				s.log.Warn("blob replica failed a read; trying the next", "replica", s.replicas[r.i].Name, "key", key, "err", r.err)
			}
			if start() {
				hedge.Reset(s.hedge)
			}
		case <-hedge.C:
			if start() {
				s.metrics.hedgedRead()
				hedge.Reset(s.hedge)
			}
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("get blob %s: %w", key, ctx.Err())
		}
	}
	err := fmt.Errorf("get blob %s: no replica has a good copy: %w", key, s.joinErrors(errs))
	if !errors.Is(err, blob.ErrNotFound) {
		s.log.Error("blob unreadable on every replica", "key", key, "err", err)
	}
	return nil, errs, err
}

// repairLater writes the verified data to replica i in the background,
// because it answered a read with rerr. When too many repairs are in
// flight, or the repair fails, the replica is hinted instead.
func (s *Store) repairLater(i int, key blob.Key, data []byte, rerr error) {
	r := s.replicas[i]
	select {
	case s.repairs <- struct{}{}:
	default:
		s.hintOrLog(r.Name, key, "repair queue full")
		return
	}
	s.wg.Go(func() {
		defer func() { <-s.repairs }()
		if err := s.repair(s.bg, i, key, data); err != nil {
			s.hintOrLog(r.Name, key, err.Error())
			return
		}
		s.log.Warn("blob replica repaired after a bad read", "replica", r.Name, "key", key, "read_error", rerr)
	})
}

// repair writes data, verified against key, to replica i, within
// copyTimeout: a hung replica must not hold the repairs and replays of the
// others.
func (s *Store) repair(ctx context.Context, i int, key blob.Key, data []byte) error {
	r := s.replicas[i]
	ctx, cancel := context.WithTimeout(ctx, copyTimeout)
	defer cancel()
	k, err := r.Store.Put(ctx, data)
	if err == nil && k != key {
		err = fmt.Errorf("replica returned key %s", k)
	}
	s.metrics.repaired(r.Name, err)
	if err != nil {
		return fmt.Errorf("repair blob %s on replica %s: %w", key, r.Name, err)
	}
	return nil
}

// hintOrLog records that replica name misses key, or logs that it could
// not: the scrubber will find the bad copy again.
func (s *Store) hintOrLog(name string, key blob.Key, why string) {
	if err := s.hints.add(name, key); err != nil {
		s.log.Error("blob replica has a bad copy that could be neither repaired nor hinted; the scrubber will find it", "replica", name, "key", key, "reason", why, "err", err)
		return
	}
	s.log.Warn("blob replica has a bad copy; hinted for replay", "replica", name, "key", key, "reason", why)
}
