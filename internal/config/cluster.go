package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Directory says where the directory (domains, accounts, which cell holds
// each account) lives.
type Directory struct {
	// Store is "postgres://..." (a PostgreSQL connection URL that every
	// node of a cluster shares) or "sqlite:PATH"; "" means the data
	// directory's directory.db.
	Store string `toml:"store"`
}

// Cell is one cell of a cluster: a mailbox store and a blob store that
// hold a share of the accounts (DESIGN.md, "Cluster and cells").
type Cell struct {
	// Name identifies the cell in the directory; it never changes once
	// accounts live in it.
	Name string `toml:"name"`
	// Store is the cell's mailbox store: "postgres://..." or
	// "sqlite:PATH", a relative PATH being under the data directory.
	Store string `toml:"store"`
	// Blob is the cell's blob store, like [blob]; keys left out take the
	// defaults of [blob], not its values: each cell names its own bucket
	// or directory. The fs backend's dir defaults to
	// cells/NAME/blobs under the data directory.
	Blob Blob `toml:"blob"`
}

// Cluster reports whether the configuration lists cells. Without any the
// server is embedded: one implicit cell over the data directory.
func (c Config) Cluster() bool { return len(c.Cells) > 0 }

// Store kinds of a DSN, as StoreKind returns them.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// StoreKind splits a store DSN: "postgres" and the URL itself, or
// "sqlite" and the file's path (relative paths under dataDir). It
// returns "" for anything else.
func StoreKind(dsn, dataDir string) (kind, target string) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return Postgres, dsn
	case strings.HasPrefix(dsn, "sqlite:"):
		p := strings.TrimPrefix(dsn, "sqlite:")
		if p == "" {
			return "", ""
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dataDir, p)
		}
		return SQLite, p
	}
	return "", ""
}

// cellBlobDefaults gives each cell's [cell.blob] the defaults of [blob]:
// the decoder makes the cells from nothing, so their blob sections are
// decoded again, alone, over the defaults. The first decoding has checked
// their keys already.
func cellBlobDefaults(c *Config, data []byte, name string) error {
	if len(c.Cells) == 0 {
		return nil
	}
	var raw struct {
		Cells []struct {
			Blob map[string]any `toml:"blob"`
		} `toml:"cell"`
	}
	if err := toml.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("config file %s: %w", name, err)
	}
	for i := range c.Cells {
		blob := Default().Blob
		if i < len(raw.Cells) && raw.Cells[i].Blob != nil {
			b, err := toml.Marshal(raw.Cells[i].Blob)
			if err == nil {
				err = toml.Unmarshal(b, &blob)
			}
			if err != nil {
				return fmt.Errorf("config file %s: [cell.blob] of cell %q: %w", name, c.Cells[i].Name, err)
			}
		}
		c.Cells[i].Blob = blob
	}
	return nil
}

// cellName is what a cell may be called: short, and safe in paths, logs
// and metric labels.
var cellName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// cluster checks [directory] and the cells.
func (v *validator) cluster(c Config) {
	if d := c.Directory.Store; d != "" {
		if kind, _ := StoreKind(d, c.DataDir); kind == "" {
			v.fail("directory.store", "%q is neither \"postgres://...\" nor \"sqlite:PATH\"; give one, or remove the key for the data directory's directory.db", redact(d))
		}
	}
	names := map[string]bool{}
	stores := map[string]string{}
	blobs := map[string]string{}
	for i, cell := range c.Cells {
		key := fmt.Sprintf("cell[%d]", i)
		if cellName.MatchString(cell.Name) {
			key = "cell." + cell.Name
		}
		switch {
		case cell.Name == "":
			v.fail(key+".name", "is missing; give each [[cell]] a name, like \"a\"")
		case !cellName.MatchString(cell.Name):
			v.fail(key+".name", "%q is not a cell name; use up to 32 lower-case letters, digits, - and _", cell.Name)
		case names[cell.Name]:
			v.fail(key+".name", "%q names two cells; give each its own name", cell.Name)
		}
		names[cell.Name] = true
		kind, target := StoreKind(cell.Store, c.DataDir)
		switch {
		case cell.Store == "":
			v.fail(key+".store", "is missing; give the cell's mailbox store, \"postgres://...\" or \"sqlite:PATH\"")
		case kind == "":
			v.fail(key+".store", "%q is neither \"postgres://...\" nor \"sqlite:PATH\"; give one of them", redact(cell.Store))
		case stores[target] != "":
			v.fail(key+".store", "is also the store of cell %q; each cell needs its own database", stores[target])
		default:
			stores[target] = cell.Name
		}
		v.blob(key+".blob", cell.Blob)
		// Each cell collects the blobs its own store does not reference:
		// two cells on one bucket would remove each other's.
		for _, where := range blobPlaces(c.DataDir, cell) {
			if other, ok := blobs[where]; ok {
				v.fail(key+".blob", "uses %s, which cell %q uses too; give each cell its own bucket or directory", where, other)
			}
			blobs[where] = cell.Name
		}
	}
}

// blobPlaces names what holds a cell's blobs: its fs directory, its S3
// endpoint and bucket.
func blobPlaces(dataDir string, cell Cell) []string {
	b := cell.Blob
	kinds := []string{b.Backend}
	if b.Backend == "replicated" {
		kinds = b.Replicated.Children
	}
	var out []string
	for _, k := range kinds {
		switch k {
		case "fs":
			out = append(out, "directory "+CellBlobDir(dataDir, cell))
		case "s3":
			out = append(out, "bucket "+b.S3.Endpoint+"/"+b.S3.Bucket)
		}
	}
	return out
}

// CellBlobDir returns the directory of a cell's fs blob backend.
func CellBlobDir(dataDir string, cell Cell) string {
	if cell.Blob.FS.Dir != "" {
		return cell.Blob.FS.Dir
	}
	return filepath.Join(dataDir, "cells", cell.Name, "blobs")
}

// redact hides the password of a DSN in messages.
func redact(dsn string) string {
	i := strings.Index(dsn, "://")
	at := strings.LastIndex(dsn, "@")
	if i < 0 || at < i {
		return dsn
	}
	userinfo := dsn[i+3 : at]
	if u, _, ok := strings.Cut(userinfo, ":"); ok {
		return dsn[:i+3] + u + ":xxxxx" + dsn[at:]
	}
	return dsn
}
