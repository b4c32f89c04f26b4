package replicated

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"casella/internal/blob"
)

// ScrubOptions configure a Scrubber.
type ScrubOptions struct {
	// Rate bounds what the scrubber reads, in bytes per second over all
	// replicas, so that it never competes with users for the disks; 0 means
	// no limit.
	Rate int64
	// Interval is the pause between the end of a pass and the start of the
	// next.
	Interval time.Duration
	// StateFile keeps the last key verified, saved about once a second,
	// so that a restarted scrubber resumes its pass instead of starting
	// over.
	StateFile string
	Logger    *slog.Logger
}

// ScrubResult counts what a pass found.
type ScrubResult struct {
	Blobs         int   // blobs verified on every replica
	Bytes         int64 // bytes read, all replicas counted
	Bad           int   // bad copies found
	Repaired      int   // bad copies rewritten from a good one
	Unrecoverable int   // blobs with no good copy anywhere
}

// Scrubber walks every blob in the background, verifies every replica's
// copy and repairs the bad ones, so that silent corruption is found while
// a good copy still exists, not when a user opens the message.
type Scrubber struct {
	s    *Store
	opts ScrubOptions
	log  *slog.Logger
}

// NewScrubber returns a scrubber of s.
func NewScrubber(s *Store, opts ScrubOptions) (*Scrubber, error) {
	if opts.StateFile == "" {
		return nil, errors.New("blob scrubber: no state file given")
	}
	if opts.Rate < 0 {
		return nil, fmt.Errorf("blob scrubber: negative rate %d", opts.Rate)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Scrubber{s: s, opts: opts, log: opts.Logger}, nil
}

// Run scrubs pass after pass, Interval apart, until ctx is done.
func (sc *Scrubber) Run(ctx context.Context) {
	for {
		res, err := sc.Pass(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			sc.log.Error("blob scrub pass failed; retrying after the interval", "err", err, "interval", sc.opts.Interval)
		} else {
			sc.log.Info("blob scrub pass done", "blobs", res.Blobs, "bytes", res.Bytes, "bad", res.Bad,
				"repaired", res.Repaired, "unrecoverable", res.Unrecoverable)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(sc.opts.Interval):
		}
	}
}

// Pass verifies every blob from where the last pass stopped to the end,
// then clears the saved position so the next pass starts over.
func (sc *Scrubber) Pass(ctx context.Context) (ScrubResult, error) {
	var res ScrubResult
	after, err := sc.position()
	if err != nil {
		return res, err
	}
	if after != "" {
		sc.log.Info("blob scrub resuming", "after", after)
	}
	m := sc.s.metrics
	pace := pacer{rate: sc.opts.Rate, start: time.Now()}
	lastSave := time.Now()
	err = sc.s.Walk(ctx, after, func(info blob.Info) error {
		c, err := sc.s.Check(ctx, info.Key, true)
		if err != nil {
			return err
		}
		read := info.Size * int64(len(c.Copies))
		res.Blobs++
		res.Bytes += read
		res.Bad += c.Bad()
		for _, cp := range c.Copies {
			if cp.Err == nil {
				continue
			}
			if cp.Repaired {
				res.Repaired++
			}
			if m != nil {
				m.scrubBad.WithLabelValues(cp.Replica, badKind(cp.Err)).Inc()
			}
		}
		if c.Good == 0 {
			res.Unrecoverable++
			sc.log.Error("blob has no good copy on any replica", "key", info.Key)
		}
		if m != nil {
			m.scrubBlobs.Inc()
			m.scrubBytes.Add(float64(read))
			if c.Good == 0 {
				m.scrubLost.Inc()
			}
		}
		if time.Since(lastSave) >= time.Second {
			if err := sc.save(info.Key); err != nil {
				return err
			}
			lastSave = time.Now()
		}
		return pace.wait(ctx, read)
	})
	if err != nil {
		return res, fmt.Errorf("blob scrub: %w", err)
	}
	if err := sc.save(""); err != nil {
		return res, err
	}
	if m != nil {
		m.scrubPasses.Inc()
		m.scrubLastEnd.SetToCurrentTime()
	}
	return res, nil
}

// position returns the key after which the pass resumes.
func (sc *Scrubber) position() (blob.Key, error) {
	data, err := os.ReadFile(sc.opts.StateFile)
	if errors.Is(err, iofs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("blob scrub: read position: %w", err)
	}
	key := blob.Key(strings.TrimSpace(string(data)))
	if key != "" && !key.Valid() {
		sc.log.Warn("blob scrub position file holds no key; starting over", "file", sc.opts.StateFile)
		return "", nil
	}
	return key, nil
}

// save records the last key verified. It writes a new file and renames it,
// so a crash leaves the old position or the new one; it does not sync,
// since a lost position only makes the scrubber verify some blobs twice.
func (sc *Scrubber) save(key blob.Key) error {
	tmp := sc.opts.StateFile + ".tmp"
	if err := os.MkdirAll(filepath.Dir(tmp), 0o750); err != nil {
		return fmt.Errorf("blob scrub: save position: %w", err)
	}
	if err := os.WriteFile(tmp, []byte(string(key)+"\n"), 0o640); err != nil {
		return fmt.Errorf("blob scrub: save position: %w", err)
	}
	if err := os.Rename(tmp, sc.opts.StateFile); err != nil {
		return fmt.Errorf("blob scrub: save position: %w", err)
	}
	return nil
}

// pacer holds a scan to rate bytes per second on average since start.
type pacer struct {
	rate  int64
	start time.Time
	bytes int64
}

func (p *pacer) wait(ctx context.Context, n int64) error {
	if p.rate <= 0 {
		return nil
	}
	p.bytes += n
	due := p.start.Add(time.Duration(float64(p.bytes) / float64(p.rate) * float64(time.Second)))
	d := time.Until(due)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
