package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"casella/internal/blob"
	"casella/internal/blob/replicated"
	"casella/internal/cell"
	"casella/internal/config"
	"casella/internal/directory"
	dirpg "casella/internal/directory/postgres"
	"casella/internal/directory/sqlitedir"
	"casella/internal/faults"
	"casella/internal/store"
	"casella/internal/store/cache"
	pgstore "casella/internal/store/postgres"
	"casella/internal/store/sqlite"
)

// OpenDirectory opens the directory that [directory] store names, the
// data directory's by default.
func OpenDirectory(ctx context.Context, cfg config.Config) (directory.Directory, error) {
	dsn := cfg.Directory.Store
	if dsn == "" {
		dsn = "sqlite:" + DirectoryFile
	}
	kind, target := config.StoreKind(dsn, cfg.DataDir)
	switch kind {
	case config.SQLite:
		if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
			return nil, fmt.Errorf("opening the directory: %w", err)
		}
		d, err := sqlitedir.Open(target)
		if err != nil {
			return nil, fmt.Errorf("opening the directory: %w", err)
		}
		return d, nil
	case config.Postgres:
		d, err := dirpg.Open(ctx, target)
		if err != nil {
			return nil, fmt.Errorf("opening the directory: %w; check [directory] store and that its PostgreSQL runs", err)
		}
		return d, nil
	}
	return nil, fmt.Errorf("directory.store %q is neither postgres://... nor sqlite:PATH", dsn)
}

// openMailStore opens a mailbox store by its DSN.
func openMailStore(ctx context.Context, dsn, dataDir string) (store.Store, error) {
	kind, target := config.StoreKind(dsn, dataDir)
	switch kind {
	case config.SQLite:
		if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
			return nil, err
		}
		return sqlite.Open(target)
	case config.Postgres:
		return pgstore.Open(ctx, target)
	}
	return nil, fmt.Errorf("store %q is neither postgres://... nor sqlite:PATH", dsn)
}

// cellParts are what the server keeps of an open cell beside its
// backends: the blob set, to scrub it.
type cellParts struct {
	blobs *Blobs
	scrub *replicated.Scrubber // nil unless replicated with scrubbing on
}

// cellConfig is one cell of a configuration, ready to open.
type cellConfig struct {
	name  string
	store string // DSN
	blob  config.Blob
	paths blobPaths
}

// cellConfigs returns the cells of the configuration: each configured
// [[cell]], or in embedded mode one cell "" over the data directory.
func cellConfigs(cfg config.Config) []cellConfig {
	if !cfg.Cluster() {
		return []cellConfig{{"", "sqlite:" + StoreFile, cfg.Blob, embeddedBlobPaths(cfg.DataDir)}}
	}
	var out []cellConfig
	for _, c := range cfg.Cells {
		out = append(out, cellConfig{c.Name, c.Store, c.Blob, cellBlobPaths(cfg.DataDir, c)})
	}
	return out
}

// CellNames returns the names of the cells of cfg: "" alone in embedded
// mode.
func CellNames(cfg config.Config) []string {
	var out []string
	for _, c := range cellConfigs(cfg) {
		out = append(out, c.name)
	}
	return out
}

// OpenCellBlobs opens the blob store of one cell of cfg, for checking
// every copy ("casella verify").
func OpenCellBlobs(ctx context.Context, cfg config.Config, name string, log *slog.Logger) (*Blobs, error) {
	for _, c := range cellConfigs(cfg) {
		if c.name == name {
			return openBlobs(ctx, c.blob, c.paths, log, nil)
		}
	}
	return nil, fmt.Errorf("no cell %q in the configuration", name)
}

// specs returns the cells of cfg for a cell.Router, each opened by open.
func specs(cfg config.Config, open func(context.Context, cellConfig) (*cell.Backends, error)) []cell.Spec {
	var out []cell.Spec
	for _, c := range cellConfigs(cfg) {
		out = append(out, cell.Spec{Name: c.name, Open: func(ctx context.Context) (*cell.Backends, error) { return open(ctx, c) }})
	}
	return out
}

// openBackends opens a cell's mailbox store and blob store.
func openBackends(ctx context.Context, dataDir string, c cellConfig, log *slog.Logger, metrics *replicated.Metrics) (store.Store, *Blobs, error) {
	st, err := openMailStore(ctx, c.store, dataDir)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the mailbox store: %w", err)
	}
	blobs, err := openBlobs(ctx, c.blob, c.paths, log.With(cellLog(c.name)...), metrics)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, blobs, nil
}

// OpenCells opens the cells of cfg, for the admin commands: a cell that
// cannot be reached is logged and its accounts' calls fail.
func OpenCells(ctx context.Context, cfg config.Config, dir directory.Directory, log *slog.Logger) (*cell.Router, error) {
	r := cell.New(dir, specs(cfg, func(ctx context.Context, c cellConfig) (*cell.Backends, error) {
		st, blobs, err := openBackends(ctx, cfg.DataDir, c, log, nil)
		if err != nil {
			return nil, err
		}
		return &cell.Backends{Store: st, Blobs: blobs.Store, Close: blobs.Close}, nil
	}), cell.Options{Logger: log, OpenTimeout: 5 * time.Second})
	if err := r.Open(ctx); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// openCell opens one cell's mailbox store and blob store for the server,
// with the row cache and, when allowed, fault injection over them.
func (s *Server) openCell(ctx context.Context, c cellConfig) (*cell.Backends, error) {
	name := c.name
	st, blobs, err := openBackends(ctx, s.cfg.DataDir, c, s.log, s.cellBlobMetrics(name))
	if err != nil {
		return nil, err
	}
	scrub, err := blobs.Scrubber(s.log.With(cellLog(name)...))
	if err != nil {
		st.Close()
		blobs.Close()
		return nil, err
	}
	rows := cache.New(st, cache.Options{Limit: s.cfg.Store.CacheMessages, MinSpan: cache.DefaultMinSpan})
	s.metrics.watchCache(name, rows)
	b := &cell.Backends{Store: rows, Blobs: blobs.Store, Close: blobs.Close}
	if s.faults != nil {
		b.Store = faults.Store(b.Store, s.faults)
		b.Blobs = faults.Blobs(b.Blobs, s.faults)
	}
	s.partsMu.Lock()
	s.parts[name] = &cellParts{blobs: blobs, scrub: scrub}
	s.partsMu.Unlock()
	// The embedded store's commit groups (store/sqlite). A cell opened
	// again keeps the first store's series.
	if m, ok := st.(interface{ Metrics() prometheus.Collector }); ok {
		if err := s.metrics.registry.Register(m.Metrics()); err != nil {
			s.log.Warn("store metrics not exported", "err", err)
		}
	}
	return b, nil
}

// cellBlobMetrics returns the blob metrics of a cell, made at its first
// attempt to open: a cell that is down at start is tried again, and its
// metrics can be registered only once. A cell's carry its name;
// embedded mode's stay as they were.
func (s *Server) cellBlobMetrics(name string) *replicated.Metrics {
	s.partsMu.Lock()
	defer s.partsMu.Unlock()
	if m := s.blobMetrics[name]; m != nil {
		return m
	}
	var reg prometheus.Registerer = s.metrics.registry
	if name != "" {
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"cell": name}, reg)
	}
	m := replicated.NewMetrics(reg)
	s.blobMetrics[name] = m
	return m
}

// cellLog names a cell in log records, except embedded mode's.
func cellLog(name string) []any {
	if name == "" {
		return nil
	}
	return []any{"cell", name}
}

// cellPart returns what the server keeps of an open cell, or nil.
func (s *Server) cellPart(name string) *cellParts {
	s.partsMu.Lock()
	defer s.partsMu.Unlock()
	return s.parts[name]
}

// blobProbe checks that a blob store answers.
func blobProbe(b blob.Store) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := b.Stat(ctx, blob.KeyOf(nil))
		if errors.Is(err, blob.ErrNotFound) {
			return nil
		}
		return err
	}
}

// cellStoreProbe checks a cell's mailbox store, down while it is not
// open.
func cellStoreProbe(c *cell.Cell) func(context.Context) error {
	return func(ctx context.Context) error {
		b := c.Backends()
		if b == nil {
			return c.Err()
		}
		return storeProbe(b.Store)(ctx)
	}
}

// cellBlobProbe checks a cell's blob store, down while it is not open.
func cellBlobProbe(c *cell.Cell) func(context.Context) error {
	return func(ctx context.Context) error {
		b := c.Backends()
		if b == nil {
			return c.Err()
		}
		return blobProbe(b.Blobs)(ctx)
	}
}

// probeNames are the health components of a cell: "store" and "blobs"
// in embedded mode, "cell NAME store" and "cell NAME blobs" in a cluster.
func probeNames(name string) (st, blobs string) {
	if name == "" {
		return "store", "blobs"
	}
	return "cell " + name + " store", "cell " + name + " blobs"
}
