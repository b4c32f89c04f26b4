package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"casella/internal/blob"
	"casella/internal/blob/fs"
	"casella/internal/blob/replicated"
	"casella/internal/blob/s3"
	"casella/internal/config"
)

// Paths of the blob store's own state inside the data directory.
const (
	BlobHintDir    = "blob-hints"     // writes a replica missed, replayed when it returns
	BlobScrubState = "blob-scrub.pos" // where the scrubber's pass stands
)

// Blobs is the blob store the configuration names, opened.
type Blobs struct {
	// Store is what the server reads and writes: the backend itself, or
	// the replicated store over the backends.
	Store blob.Store
	// Set is the store as a set of replicas, for scrubbing and checking
	// every copy. For a single backend it is a set of one.
	Set *replicated.Store
}

// OpenBlobs opens the blob backends of cfg. Metrics may be nil.
func OpenBlobs(ctx context.Context, cfg config.Config, log *slog.Logger, metrics *replicated.Metrics) (*Blobs, error) {
	bc := cfg.Blob
	names := []string{bc.Backend}
	if bc.Backend == "replicated" {
		names = bc.Replicated.Children
	}
	var replicas []replicated.Replica
	for _, name := range names {
		st, err := openBackend(ctx, cfg, name)
		if err != nil {
			return nil, err
		}
		replicas = append(replicas, replicated.Replica{Name: name, Store: st})
	}
	set, err := replicated.New(replicas, replicated.Options{
		WriteQuorum:    bc.Replicated.WriteQuorum,
		HedgeDelay:     bc.Replicated.HedgeDelay.D(),
		ReplayInterval: bc.Replicated.ReplayInterval.D(),
		HintDir:        filepath.Join(cfg.DataDir, BlobHintDir),
		Logger:         log.With("component", "blobs"),
		Metrics:        metrics,
	})
	if err != nil {
		return nil, fmt.Errorf("opening the blob store: %w", err)
	}
	b := &Blobs{Store: set, Set: set}
	if len(replicas) == 1 {
		b.Store = replicas[0].Store
	}
	return b, nil
}

// Close stops the replicated store's background work and releases the
// backends that hold resources.
func (b *Blobs) Close() error {
	errs := []error{b.Set.Close()}
	for _, r := range b.Set.Replicas() {
		if c, ok := r.Store.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// Scrubber returns the configured scrubber, or nil when the backend is not
// replicated or scrubbing is off.
func (b *Blobs) Scrubber(cfg config.Config, log *slog.Logger) (*replicated.Scrubber, error) {
	if cfg.Blob.Backend != "replicated" || cfg.Blob.Scrub.Rate == 0 {
		return nil, nil
	}
	return replicated.NewScrubber(b.Set, replicated.ScrubOptions{
		Rate:      int64(cfg.Blob.Scrub.Rate),
		Interval:  cfg.Blob.Scrub.Interval.D(),
		StateFile: filepath.Join(cfg.DataDir, BlobScrubState),
		Logger:    log.With("component", "blob scrub"),
	})
}

func openBackend(ctx context.Context, cfg config.Config, name string) (blob.Store, error) {
	switch name {
	case "fs":
		dir := cfg.Blob.FS.Dir
		if dir == "" {
			dir = filepath.Join(cfg.DataDir, BlobDir)
		}
		st, err := fs.Open(dir)
		if err != nil {
			return nil, fmt.Errorf("opening the blob store: %w", err)
		}
		return st, nil
	case "s3":
		c := cfg.Blob.S3
		st, err := s3.Open(ctx, s3.Options{
			Endpoint:    c.Endpoint,
			Bucket:      c.Bucket,
			Region:      c.Region,
			AccessKey:   c.AccessKey,
			SecretKey:   c.SecretKey,
			PathStyle:   c.PathStyle,
			Timeout:     c.Timeout.D(),
			MaxAttempts: c.MaxAttempts,
			PartSize:    int64(c.PartSize),
		})
		if err != nil {
			return nil, fmt.Errorf("%w; check [blob.s3] in the configuration", err)
		}
		return st, nil
	}
	return nil, errors.New("unknown blob backend " + name)
}
