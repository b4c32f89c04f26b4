package config

import (
	"path/filepath"
	"testing"
	"time"
)

func TestCells(t *testing.T) {
	c, err := Load(writeFile(t, `
[directory]
store = "postgres://casella@db.example:5432/directory"

[[cell]]
name = "a"
store = "postgres://casella:secret@cell-a.example/mail"
[cell.blob]
backend = "s3"
gc_grace = "2h"
[cell.blob.s3]
endpoint = "https://s3.example"
bucket = "cell-a"

[[cell]]
name = "b"
store = "sqlite:cells/b/mail.db"
`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Cluster() || len(c.Cells) != 2 || c.Cells[0].Name != "a" || c.Cells[1].Name != "b" {
		t.Fatalf("cells = %+v", c.Cells)
	}
	a, b := c.Cells[0].Blob, c.Cells[1].Blob
	// What a cell's blob section leaves out takes [blob]'s defaults.
	if a.Backend != "s3" || a.S3.Bucket != "cell-a" || a.GCGrace.D() != 2*time.Hour ||
		a.S3.Region != "us-east-1" || a.S3.MaxAttempts != 3 || a.GCInterval.D() != time.Hour {
		t.Fatalf("cell a blob = %+v", a)
	}
	if b.Backend != "fs" || b.Scrub.Rate != Default().Blob.Scrub.Rate {
		t.Fatalf("cell b blob = %+v", b)
	}
	if got := CellBlobDir("/data", c.Cells[1]); got != filepath.FromSlash("/data/cells/b/blobs") {
		t.Fatalf("CellBlobDir = %q", got)
	}
	if kind, p := StoreKind(c.Cells[1].Store, "/data"); kind != SQLite || p != "/data/cells/b/mail.db" {
		t.Fatalf("StoreKind = %q %q", kind, p)
	}
	if Default().Cluster() {
		t.Fatal("the default configuration is a cluster")
	}
}

func TestCellErrors(t *testing.T) {
	wantLoadError(t, "[[cell]]\nstore = \"sqlite:a.db\"\n", "cell[0].name", "is missing")
	wantLoadError(t, "[[cell]]\nname = \"A b\"\nstore = \"sqlite:a.db\"\n", "cell[0].name", "lower-case")
	wantLoadError(t, "[[cell]]\nname = \"a\"\n", "cell.a.store", "is missing")
	wantLoadError(t, "[[cell]]\nname = \"a\"\nstore = \"mysql://u:pw@h/db\"\n", "cell.a.store", "u:xxxxx@h")
	wantLoadError(t, "[[cell]]\nname = \"a\"\nstore = \"sqlite:x.db\"\n[[cell]]\nname = \"a\"\nstore = \"sqlite:y.db\"\n", "cell.a.name", "two cells")
	wantLoadError(t, "[[cell]]\nname = \"a\"\nstore = \"sqlite:x.db\"\n[[cell]]\nname = \"b\"\nstore = \"sqlite:x.db\"\n", "cell.b.store", "cell \"a\"")
	wantLoadError(t, `
[[cell]]
name = "a"
store = "sqlite:a.db"
[cell.blob]
backend = "s3"
[cell.blob.s3]
bucket = "shared"
[[cell]]
name = "b"
store = "sqlite:b.db"
[cell.blob]
backend = "s3"
[cell.blob.s3]
bucket = "shared"
`, "cell.b.blob", "cell \"a\" uses too")
	wantLoadError(t, "[[cell]]\nname = \"a\"\nstore = \"sqlite:a.db\"\n[cell.blob]\nbackend = \"s3\"\n", "cell.a.blob.s3.bucket", "is empty")
	wantLoadError(t, "[[cell]]\nname = \"a\"\nstore = \"sqlite:a.db\"\n[cell.blob]\nbakend = \"s3\"\n", "unknown key", "cell.blob.bakend")
	wantLoadError(t, "[directory]\nstore = \"/var/dir.db\"\n", "directory.store", "sqlite:PATH")
}
