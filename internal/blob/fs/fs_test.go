package fs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"casella/internal/blob"
	"casella/internal/blob/blobtest"
)

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return open(t) })
}

func TestLayout(t *testing.T) {
	s := open(t)
	key, err := s.Put(t.Context(), []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	k := string(key)
	want := filepath.Join(s.Dir(), k[:2], k[2:4], k)
	if s.Path(key) != want {
		t.Fatalf("Path = %s, want %s", s.Path(key), want)
	}
	data, err := os.ReadFile(want)
	if err != nil || string(data) != "hello" {
		t.Fatalf("blob file holds %q, %v", data, err)
	}
	if s.Path("../x") != "" {
		t.Fatalf("Path of an invalid key is %q, want empty", s.Path("../x"))
	}
	tmp, err := os.ReadDir(filepath.Join(s.Dir(), "tmp"))
	if err != nil || len(tmp) != 0 {
		t.Fatalf("temporary directory after Put holds %d entries, %v", len(tmp), err)
	}
}

// damage applies fn to the blob's file content and checks that Get then
// reports the blob as corrupt, by key, without returning bytes.
func damage(t *testing.T, s *Store, data []byte, fn func([]byte) []byte) {
	t.Helper()
	key, err := s.Put(t.Context(), data)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path(key), fn(bytes.Clone(data)), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(t.Context(), key)
	var ce *blob.CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("Get of a damaged blob = %d bytes, %v; want *blob.CorruptError", len(got), err)
	}
	if got != nil {
		t.Fatalf("Get of a damaged blob returned %d bytes", len(got))
	}
	if ce.Key != key || !strings.Contains(err.Error(), string(key)) {
		t.Fatalf("CorruptError %q does not name key %s", err, key)
	}
	if errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("a corrupt blob is reported as not found: %v", err)
	}

	// Putting the right content again repairs the copy.
	if _, err := s.Put(t.Context(), data); err != nil {
		t.Fatalf("repairing Put: %v", err)
	}
	got, err = s.Get(t.Context(), key)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get after repairing Put = %d bytes, %v", len(got), err)
	}
}

func TestCorruption(t *testing.T) {
	data := []byte("From: a@example.org\r\nSubject: important\r\n\r\nbody\r\n")
	tests := []struct {
		name string
		fn   func([]byte) []byte
	}{
		{"flipped byte", func(b []byte) []byte { b[10] ^= 0x01; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
		{"emptied", func(b []byte) []byte { return nil }},
		{"extended", func(b []byte) []byte { return append(b, '\n') }},
		{"other content", func([]byte) []byte { return []byte("some other message entirely") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			damage(t, open(t), data, tt.fn)
		})
	}
}

func TestOpenRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "tmp", "put-stale")
	fresh := filepath.Join(dir, "tmp", "put-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleTemp)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale temporary file survived Open: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("a recent temporary file (maybe a Put in progress elsewhere) was removed: %v", err)
	}
}

func TestOpenNotADirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{file, filepath.Join(file, "blobs"), ""} {
		if s, err := Open(dir); err == nil {
			t.Fatalf("Open(%q) succeeded with %v", dir, s)
		}
	}
}

func TestUnwritable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("permissions do not apply to root")
	}
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "tmp"), 0o750) })
	if _, err := s.Put(t.Context(), []byte("x")); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Put into an unwritable store = %v, want an error naming %s", err, dir)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("Open of an unwritable store = %v, want a not writable error", err)
	}
}

// TestPutOverDirectory covers a blob path taken by something that is
// not a file: Put must fail clearly rather than report success.
func TestPutOverDirectory(t *testing.T) {
	s := open(t)
	data := []byte("blocked")
	key := blob.KeyOf(data)
	if err := os.MkdirAll(filepath.Join(s.Path(key), "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(t.Context(), data); err == nil {
		t.Fatal("Put onto a path held by a directory succeeded")
	}
	if _, err := s.Get(t.Context(), key); err == nil {
		t.Fatal("Get of a path held by a directory succeeded")
	}
	if _, err := s.Stat(t.Context(), key); err == nil {
		t.Fatal("Stat of a path held by a directory succeeded")
	}
}

func TestWalkIgnoresStrayFiles(t *testing.T) {
	s := open(t)
	key, err := s.Put(t.Context(), []byte("real"))
	if err != nil {
		t.Fatal(err)
	}
	k := string(key)
	other := string(blob.KeyOf([]byte("misfiled")))
	stray := []string{
		filepath.Join(s.Dir(), "README"),
		filepath.Join(s.Dir(), k[:2], "notes"),
		filepath.Join(s.Dir(), k[:2], k[2:4], "x.tmp"),
		filepath.Join(s.Dir(), k[:2], k[2:4], other), // under the wrong shard
		filepath.Join(s.Dir(), "tmp", k),
	}
	for _, p := range stray {
		if err := os.WriteFile(p, []byte("stray"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(s.Dir(), "ZZ", "00"), 0o750); err != nil {
		t.Fatal(err)
	}
	var keys []blob.Key
	if err := s.Walk(t.Context(), "", func(i blob.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != key {
		t.Fatalf("Walk listed %v, want only %s", keys, key)
	}
}

// TestPutRemadeShard checks that a Put into a shard directory that was
// removed after this Store created it makes the directory again.
func TestPutRemadeShard(t *testing.T) {
	s := open(t)
	first, err := s.Put(t.Context(), []byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(s.Dir(), string(first)[:2])); err != nil {
		t.Fatal(err)
	}
	// Another blob in the same shard, found by trying.
	for i := 0; ; i++ {
		data := []byte("second " + strconv.Itoa(i))
		key := blob.KeyOf(data)
		if string(key)[:4] != string(first)[:4] {
			continue
		}
		if _, err := s.Put(t.Context(), data); err != nil {
			t.Fatalf("Put into a removed shard: %v", err)
		}
		if got, err := s.Get(t.Context(), key); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Get after Put into a removed shard: %q, %v", got, err)
		}
		return
	}
}

// A Put of content already stored returns only after a sync round: the
// file it found may be a concurrent Put's, whose name is not durable yet.
func TestPutExistingSyncs(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if _, err := s.Put(ctx, []byte("same")); err != nil {
		t.Fatal(err)
	}
	before := s.sync.Rounds()
	if _, err := s.Put(ctx, []byte("same")); err != nil {
		t.Fatal(err)
	}
	if s.sync.Rounds() == before {
		t.Error("a Put of stored content returned without a sync round")
	}
}
