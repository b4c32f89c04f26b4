package fs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"casella/internal/blob"
)

// FuzzKey hands hostile keys to every call that takes one: none may reach
// a file outside the store, return bytes for a key other than the stored
// blob's, or remove anything but a blob.
func FuzzKey(f *testing.F) {
	root := f.TempDir()
	s, err := Open(filepath.Join(root, "blobs"))
	if err != nil {
		f.Fatal(err)
	}
	data := []byte("the only blob")
	stored, err := s.Put(f.Context(), data)
	if err != nil {
		f.Fatal(err)
	}
	// A file a traversal from the store would reach, named like a key.
	outside := filepath.Join(root, string(stored))
	if err := os.WriteFile(outside, data, 0o600); err != nil {
		f.Fatal(err)
	}
	k := string(stored)
	for _, seed := range []string{k, "", "..", "../" + k, "../../" + k, strings.ToUpper(k), k[:2] + "/" + k[2:4] + "/" + k, k + "\x00", "tmp", k[:63] + "/", strings.Repeat("0", 64)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		key := blob.Key(text)
		got, err := s.Get(t.Context(), key)
		switch {
		case key == stored:
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Get of the stored blob = %d bytes, %v", len(got), err)
			}
		case !errors.Is(err, blob.ErrNotFound) || got != nil:
			t.Fatalf("Get(%q) = %d bytes, %v; want not found", key, len(got), err)
		}
		if _, err := s.Stat(t.Context(), key); key != stored && !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("Stat(%q) = %v; want not found", key, err)
		}
		if key == stored {
			return
		}
		if err := s.Delete(t.Context(), key); err != nil {
			t.Fatalf("Delete(%q) = %v", key, err)
		}
		var walked []blob.Key
		if err := s.Walk(t.Context(), key, func(i blob.Info) error { walked = append(walked, i.Key); return nil }); err != nil {
			t.Fatalf("Walk(%q): %v", key, err)
		}
		if want := stored > key; want != (len(walked) == 1) || len(walked) > 1 {
			t.Fatalf("Walk after %q listed %v", key, walked)
		}
		if _, err := os.Stat(outside); err != nil {
			t.Fatalf("file outside the store is gone after key %q: %v", key, err)
		}
		if _, err := s.Stat(t.Context(), stored); err != nil {
			t.Fatalf("stored blob is gone after key %q: %v", key, err)
		}
	})
}
