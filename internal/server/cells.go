package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"casella/internal/blob"
	"casella/internal/blob/replicated"
	"casella/internal/cell"
	"casella/internal/config"
	"casella/internal/directory"
	"casella/internal/directory/sqlitedir"
	"casella/internal/faults"
	"casella/internal/store"
	"casella/internal/store/cache"
	"casella/internal/store/sqlite"
)

// openDirectory opens the directory that [directory] store names, the
// data directory's by default.
func openDirectory(ctx context.Context, cfg config.Config) (directory.Directory, error) {
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
	}
	return nil, fmt.Errorf("directory.store %q: this casella opens only sqlite:PATH directories", dsn)
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
	}
	return nil, fmt.Errorf("store %q: this casella opens only sqlite:PATH stores", dsn)
}

// cellParts are what the server keeps of an open cell beside its
// backends: the blob set, to scrub it.
type cellParts struct {
	blobs *Blobs
	scrub *replicated.Scrubber // nil unless replicated with scrubbing on
}

// cellSpecs returns the cells of the configuration: each configured
// [[cell]], or in embedded mode one cell "" over the data directory.
func (s *Server) cellSpecs() []cell.Spec {
	cfg := s.cfg
	if !cfg.Cluster() {
		return []cell.Spec{{Name: "", Open: func(ctx context.Context) (*cell.Backends, error) {
			return s.openCell(ctx, "", "sqlite:"+StoreFile, cfg.Blob, embeddedBlobPaths(cfg.DataDir))
		}}}
	}
	var specs []cell.Spec
	for _, c := range cfg.Cells {
		specs = append(specs, cell.Spec{Name: c.Name, Open: func(ctx context.Context) (*cell.Backends, error) {
			return s.openCell(ctx, c.Name, c.Store, c.Blob, cellBlobPaths(cfg.DataDir, c))
		}})
	}
	return specs
}

// openCell opens one cell's mailbox store and blob store, with the row
// cache and, when allowed, fault injection over them.
func (s *Server) openCell(ctx context.Context, name, dsn string, bc config.Blob, paths blobPaths) (*cell.Backends, error) {
	st, err := openMailStore(ctx, dsn, s.cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("opening the mailbox store: %w", err)
	}
	blobs, err := openBlobs(ctx, bc, paths, s.log.With(cellLog(name)...), s.blobMetrics)
	if err != nil {
		st.Close()
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
	return b, nil
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
