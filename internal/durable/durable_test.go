package durable

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	sy, err := OpenSyncer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sy.Close() })
	for name, write := range map[string]func(path, tmpDir string, parts ...[]byte) error{
		"WriteFile": WriteFile,
		"writeRenamed": func(path, tmpDir string, parts ...[]byte) error {
			return writeRenamed(path, tmpDir, parts, (*os.File).Sync)
		},
		"Syncer.WriteFile": sy.WriteFile,
	} {
		t.Run(name, func(t *testing.T) {
			dir, tmp := t.TempDir(), t.TempDir()
			path := filepath.Join(dir, "entry")
			if err := write(path, tmp, []byte("first")); err != nil {
				t.Fatal(err)
			}
			if err := write(path, tmp, []byte("second, "), nil, []byte("longer")); err != nil {
				t.Fatalf("replacing: %v", err)
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, []byte("second, longer")) {
				t.Fatalf("file holds %q, %v", got, err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, %v; want 0600", fi.Mode(), err)
			}
			for _, d := range []string{dir, tmp} {
				if des, _ := os.ReadDir(d); d == tmp && len(des) != 0 || d == dir && len(des) != 1 {
					t.Errorf("%s holds %d entries after the writes", d, len(des))
				}
			}
			// A write into a missing directory fails and leaves nothing.
			if err := write(filepath.Join(dir, "missing", "x"), tmp, []byte("x")); err == nil {
				t.Error("write into a missing directory succeeded")
			}
			if des, _ := os.ReadDir(tmp); len(des) != 0 {
				t.Errorf("temporary directory holds %d entries after a failed write", len(des))
			}
		})
	}
}

func TestUnnamedRefusesExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "entry")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := writeUnnamed(path, [][]byte{[]byte("new")}, (*os.File).Sync)
	if errors.Is(err, errNoTmpfile) {
		t.Skip("this file system has no O_TMPFILE")
	}
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("writeUnnamed over an existing file: %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Errorf("existing file holds %q", got)
	}
}

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("SyncDir of a missing directory succeeded")
	}
}
