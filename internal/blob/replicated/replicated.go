// Package replicated implements blob.Store over several independent blob
// stores (replicas), so that a broken, lost or lying backend takes no
// message away (DESIGN.md invariants 4 and 5).
//
// Implementation notes:
//   - A Put goes to every replica at once and succeeds when WriteQuorum of
//     them acknowledged it. A replica that failed, or that had not answered
//     HedgeDelay after the quorum was reached, gets a hint: a durable note
//     (an empty file named by the key, fsync'd, under the hint directory)
//     that it misses the blob. Hints are replayed in the background by
//     copying the blob from a good replica once the replica answers again.
//     A Put returns only after its hints are on disk.
//   - A Get asks the replicas in order, the first being the preferred one.
//     An error, a missing or corrupt copy moves on to the next at once; a
//     replica that has not answered within HedgeDelay gets company (a
//     hedged read of the next one). The first copy that verifies against
//     the key wins, and every copy found bad on the way is repaired in the
//     background from it. Wrong bytes are never returned: every replica
//     verifies what it reads, as the blob.Store contract requires (each
//     backend's tests damage stored bytes to check it), so this store does
//     not hash them a second time, which halved read throughput.
//   - ErrNotFound is returned only when every replica says the blob is not
//     there; a blob that no replica can serve for any other reason is a
//     different error, naming what each replica said.
//   - Stat reports the newest ModTime among the replicas that answer,
//     since garbage collection must see a refresh that reached any of them.
//   - Delete must reach every replica: a replica left holding the blob
//     would make it reappear as garbage that no hint tracks. Garbage
//     collection retries it at its next run.
//   - Walk merges the replicas' listings, each key once, so that a blob
//     only one replica holds is still seen by the scrubber and by gc.
//   - Repairs write through the replica's Put, which for every Casella
//     backend replaces a damaged copy by the right bytes.
package replicated

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"casella/internal/blob"
)

// Defaults of Options.
const (
	DefaultHedgeDelay     = 500 * time.Millisecond
	DefaultReplayInterval = 30 * time.Second
	// maxRepairs bounds the background repairs in flight; past it a bad
	// copy found by a read is left to a hint, so that a storm of bad reads
	// cannot start a storm of writes.
	maxRepairs = 8
	// copyTimeout bounds one repair or replay write.
	copyTimeout = time.Minute
)

// Replica is one of the stores that hold a copy of every blob.
type Replica struct {
	Name  string // short and unique: used in logs, metrics and the hint directory
	Store blob.Store
}

// Options configure a Store.
type Options struct {
	// WriteQuorum is how many replicas must acknowledge a Put; default
	// (0) all of them.
	WriteQuorum int
	// HedgeDelay is how long a slow replica is waited for before going
	// around it: a Get asks the next replica too, and a Put that has its
	// quorum records hints for the replicas still writing and returns.
	// Default DefaultHedgeDelay.
	HedgeDelay time.Duration
	// HintDir is where hints are kept, one subdirectory per replica. It
	// must survive restarts: it is the memory of what each replica
	// misses.
	HintDir string
	// ReplayInterval is how often hints are retried; default
	// DefaultReplayInterval.
	ReplayInterval time.Duration
	Logger         *slog.Logger
	Metrics        *Metrics // nil: none
}

// Store is a blob.Store over replicas. It is safe for concurrent use.
// Close stops its background work.
type Store struct {
	replicas []Replica
	quorum   int
	hedge    time.Duration
	log      *slog.Logger
	metrics  *Metrics
	hints    *hints

	bg      context.Context // canceled by Close: background repairs and replays
	stop    context.CancelFunc
	wg      sync.WaitGroup
	repairs chan struct{} // semaphore of background repairs
}

var _ blob.Store = (*Store)(nil)

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// New returns a Store over replicas and starts replaying its hints in the
// background.
func New(replicas []Replica, opts Options) (*Store, error) {
	if len(replicas) == 0 {
		return nil, errors.New("replicated blob store: no replicas given")
	}
	seen := map[string]bool{}
	for _, r := range replicas {
		if !validName.MatchString(r.Name) {
			return nil, fmt.Errorf("replicated blob store: replica name %q must be 1 to 32 of a-z, 0-9, _ and -, starting with a letter or digit", r.Name)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("replicated blob store: replica name %q is used twice", r.Name)
		}
		seen[r.Name] = true
	}
	if opts.WriteQuorum == 0 {
		opts.WriteQuorum = len(replicas)
	}
	if opts.WriteQuorum < 1 || opts.WriteQuorum > len(replicas) {
		return nil, fmt.Errorf("replicated blob store: write quorum %d is not between 1 and the %d replicas", opts.WriteQuorum, len(replicas))
	}
	if opts.HedgeDelay <= 0 {
		opts.HedgeDelay = DefaultHedgeDelay
	}
	if opts.ReplayInterval <= 0 {
		opts.ReplayInterval = DefaultReplayInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h, err := openHints(opts.HintDir, replicas)
	if err != nil {
		return nil, fmt.Errorf("replicated blob store: %w", err)
	}
	s := &Store{
		replicas: replicas,
		quorum:   opts.WriteQuorum,
		hedge:    opts.HedgeDelay,
		log:      opts.Logger,
		metrics:  opts.Metrics,
		hints:    h,
		repairs:  make(chan struct{}, maxRepairs),
	}
	s.metrics.watchHints(h)
	s.bg, s.stop = context.WithCancel(context.Background())
	s.wg.Go(func() { s.replayLoop(opts.ReplayInterval) })
	return s, nil
}

// Close stops the background repairs and hint replays and waits for them.
// Bad copies not yet repaired stay hinted or are found by the next scrub.
func (s *Store) Close() error {
	s.stop()
	s.wg.Wait()
	return nil
}

// Replicas returns the replicas, the preferred one first.
func (s *Store) Replicas() []Replica {
	return s.replicas
}

// Put stores data on every replica and returns once WriteQuorum of them
// have it and the others are hinted.
func (s *Store) Put(ctx context.Context, data []byte) (blob.Key, error) {
	key := blob.KeyOf(data)
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("put blob %s: %w", key, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		i   int
		err error
	}
	results := make(chan result, len(s.replicas))
	for i, r := range s.replicas {
		go func() {
			k, err := r.Store.Put(wctx, data)
			if err == nil && k != key {
				err = fmt.Errorf("replica returned key %s for content whose SHA-256 is %s", k, key)
			}
			results <- result{i, err}
		}()
	}
	errs := make([]error, len(s.replicas))
	done := make([]bool, len(s.replicas))
	acks, pending := 0, len(s.replicas)
	var laggards <-chan time.Time
wait:
	for pending > 0 {
		select {
		case r := <-results:
			pending--
			done[r.i] = true
			if r.err != nil {
				errs[r.i] = r.err
				s.metrics.replicaError(s.replicas[r.i].Name, "put")
				continue
			}
			acks++
			if acks == s.quorum && pending > 0 {
				laggards = time.After(s.hedge)
			}
		case <-laggards:
			break wait
		case <-ctx.Done():
			return "", fmt.Errorf("put blob %s: %w", key, ctx.Err())
		}
	}
	if acks < s.quorum {
		return "", fmt.Errorf("put blob %s: %d of %d replicas stored it, %d needed: %w",
			key, acks, len(s.replicas), s.quorum, s.joinErrors(errs))
	}
	for i, r := range s.replicas {
		if done[i] && errs[i] == nil {
			continue
		}
		why := "did not answer within the hedge delay"
		if errs[i] != nil {
			why = errs[i].Error()
		}
		if err := s.hints.add(r.Name, key); err != nil {
			return "", fmt.Errorf("put blob %s: replica %s missed it (%s) and the hint could not be recorded: %w", key, r.Name, why, err)
		}
		s.log.Warn("blob replica missed a write; hinted for replay", "replica", r.Name, "key", key, "reason", why)
	}
	return key, nil
}

// Stat returns the blob's size and its newest ModTime among the replicas
// that answer.
func (s *Store) Stat(ctx context.Context, key blob.Key) (blob.Info, error) {
	if err := ctx.Err(); err != nil {
		return blob.Info{}, fmt.Errorf("stat blob %s: %w", key, err)
	}
	infos := make([]blob.Info, len(s.replicas))
	errs := make([]error, len(s.replicas))
	var wg sync.WaitGroup
	for i, r := range s.replicas {
		wg.Go(func() { infos[i], errs[i] = r.Store.Stat(ctx, key) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return blob.Info{}, fmt.Errorf("stat blob %s: %w", key, err)
	}
	var best blob.Info
	found := false
	for i, info := range infos {
		if errs[i] != nil {
			continue
		}
		if !found || info.ModTime.After(best.ModTime) {
			best = info
		}
		found = true
	}
	if found {
		return best, nil
	}
	return blob.Info{}, fmt.Errorf("stat blob %s: %w", key, s.joinErrors(errs))
}

// Delete removes the blob from every replica.
func (s *Store) Delete(ctx context.Context, key blob.Key) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete blob %s: %w", key, err)
	}
	errs := make([]error, len(s.replicas))
	var wg sync.WaitGroup
	for i, r := range s.replicas {
		wg.Go(func() { errs[i] = r.Store.Delete(ctx, key) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete blob %s: %w", key, s.joinErrors(errs))
	}
	return nil
}

// joinErrors combines the errors of the replicas that failed a call (nil
// entries are replicas that succeeded or were not asked). When every one
// of them said not found the result wraps blob.ErrNotFound; otherwise it
// wraps only the real failures, so that a blob one replica lacks and
// another cannot serve is not reported as missing.
func (s *Store) joinErrors(errs []error) error {
	var failures []error
	missing := 0
	for i, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, blob.ErrNotFound):
			missing++
		default:
			failures = append(failures, fmt.Errorf("replica %s: %w", s.replicas[i].Name, err))
		}
	}
	if len(failures) == 0 && missing > 0 {
		return fmt.Errorf("no replica has it: %w", blob.ErrNotFound)
	}
	if missing > 0 {
		failures = append(failures, fmt.Errorf("%d other replicas do not have it", missing))
	}
	return errors.Join(failures...)
}
