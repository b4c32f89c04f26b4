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

	cfg        config.Blob
	scrubState string
}

// blobPaths are where a blob configuration keeps its files on this node.
type blobPaths struct {
	fs    string // the fs backend's directory when [blob.fs] dir is ""
	hints string // writes a replica missed
	scrub string // where the scrubber's pass stands
}

// embeddedBlobPaths are the paths of the data directory's blob store.
func embeddedBlobPaths(dataDir string) blobPaths {
	return blobPaths{
		fs:    filepath.Join(dataDir, BlobDir),
		hints: filepath.Join(dataDir, BlobHintDir),
		scrub: filepath.Join(dataDir, BlobScrubState),
	}
}

// cellBlobPaths are the paths of a cell's blob store.
func cellBlobPaths(dataDir string, c config.Cell) blobPaths {
	dir := filepath.Join(dataDir, "cells", c.Name)
	return blobPaths{
		fs:    config.CellBlobDir(dataDir, c),
		hints: filepath.Join(dir, BlobHintDir),
		scrub: filepath.Join(dir, BlobScrubState),
	}
}

// OpenBlobs opens the blob backends of cfg's [blob]. Metrics may be nil.
func OpenBlobs(ctx context.Context, cfg config.Config, log *slog.Logger, metrics *replicated.Metrics) (*Blobs, error) {
	return openBlobs(ctx, cfg.Blob, embeddedBlobPaths(cfg.DataDir), log, metrics)
}

// openBlobs opens the backends of one blob configuration.
func openBlobs(ctx context.Context, bc config.Blob, paths blobPaths, log *slog.Logger, metrics *replicated.Metrics) (*Blobs, error) {
	names := []string{bc.Backend}
	if bc.Backend == "replicated" {
		names = bc.Replicated.Children
	}
	var replicas []replicated.Replica
	for _, name := range names {
		st, err := openBackend(ctx, bc, paths.fs, name)
		if err != nil {
			closeReplicas(replicas)
			return nil, err
		}
		replicas = append(replicas, replicated.Replica{Name: name, Store: st})
	}
	set, err := replicated.New(replicas, replicated.Options{
		WriteQuorum:    bc.Replicated.WriteQuorum,
		HedgeDelay:     bc.Replicated.HedgeDelay.D(),
		ReplayInterval: bc.Replicated.ReplayInterval.D(),
		HintDir:        paths.hints,
		Logger:         log.With("component", "blobs"),
		Metrics:        metrics,
	})
	if err != nil {
		closeReplicas(replicas)
		return nil, fmt.Errorf("opening the blob store: %w", err)
	}
	b := &Blobs{Store: set, Set: set, cfg: bc, scrubState: paths.scrub}
	if len(replicas) == 1 {
		b.Store = replicas[0].Store
	}
	return b, nil
}

// Close stops the replicated store's background work and releases the
// backends that hold resources.
func (b *Blobs) Close() error {
	return errors.Join(b.Set.Close(), closeReplicas(b.Set.Replicas()))
}

// closeReplicas releases the backends that hold resources.
func closeReplicas(rs []replicated.Replica) error {
	var errs []error
	for _, r := range rs {
		if c, ok := r.Store.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// Scrubber returns the configured scrubber, or nil when the backend is not
// replicated or scrubbing is off.
func (b *Blobs) Scrubber(log *slog.Logger) (*replicated.Scrubber, error) {
	if b.cfg.Backend != "replicated" || b.cfg.Scrub.Rate == 0 {
		return nil, nil
	}
	return replicated.NewScrubber(b.Set, replicated.ScrubOptions{
		Rate:      int64(b.cfg.Scrub.Rate),
		Interval:  b.cfg.Scrub.Interval.D(),
		StateFile: b.scrubState,
		Logger:    log.With("component", "blob scrub"),
	})
}

func openBackend(ctx context.Context, bc config.Blob, fsDefault, name string) (blob.Store, error) {
	switch name {
	case "fs":
		dir := bc.FS.Dir
		if dir == "" {
			dir = fsDefault
		}
		st, err := fs.Open(dir)
		if err != nil {
			return nil, fmt.Errorf("opening the blob store: %w", err)
		}
		return st, nil
	case "s3":
		c := bc.S3
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
