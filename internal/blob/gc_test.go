package blob_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"casella/internal/blob"
	"casella/internal/blob/fs"
)

// gcStore returns a filesystem store holding each of contents, every blob
// last modified two hours ago.
func gcStore(t *testing.T, contents ...string) (*fs.Store, []blob.Key) {
	t.Helper()
	s, err := fs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var keys []blob.Key
	for _, c := range contents {
		key, err := s.Put(t.Context(), []byte(c))
		if err != nil {
			t.Fatal(err)
		}
		age(t, s, key, 2*time.Hour)
		keys = append(keys, key)
	}
	return s, keys
}

func age(t *testing.T, s *fs.Store, key blob.Key, by time.Duration) {
	t.Helper()
	old := time.Now().Add(-by)
	if err := os.Chtimes(s.Path(key), old, old); err != nil {
		t.Fatal(err)
	}
}

func exists(t *testing.T, s blob.Store, key blob.Key) bool {
	t.Helper()
	_, err := s.Stat(t.Context(), key)
	if err != nil && !errors.Is(err, blob.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func refs(keys ...blob.Key) func(context.Context, blob.Key) (bool, error) {
	set := map[blob.Key]bool{}
	for _, k := range keys {
		set[k] = true
	}
	return func(_ context.Context, k blob.Key) (bool, error) { return set[k], nil }
}

func TestCollect(t *testing.T) {
	s, keys := gcStore(t, "referenced", "garbage", "young garbage", "shared with a new delivery")
	referenced, garbage, young, shared := keys[0], keys[1], keys[2], keys[3]
	age(t, s, young, time.Minute)
	// A delivery in progress Puts content that an old, unreferenced blob
	// already holds: the Put refreshes it, so collection must keep it.
	if _, err := s.Put(t.Context(), []byte("shared with a new delivery")); err != nil {
		t.Fatal(err)
	}

	res, err := blob.Collect(t.Context(), s, refs(referenced), time.Hour)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	want := blob.CollectResult{Scanned: 4, Removed: 1, Freed: int64(len("garbage"))}
	if res != want {
		t.Fatalf("Collect = %+v, want %+v", res, want)
	}
	if exists(t, s, garbage) {
		t.Fatal("unreferenced old blob survived")
	}
	for _, k := range []blob.Key{referenced, young, shared} {
		if !exists(t, s, k) {
			t.Fatalf("blob %s was collected", k)
		}
	}
}

func TestCollectStopsOnDoubt(t *testing.T) {
	s, keys := gcStore(t, "a", "b", "c", "d")
	broken := errors.New("mailbox store unavailable")
	calls := 0
	res, err := blob.Collect(t.Context(), s, func(context.Context, blob.Key) (bool, error) {
		calls++
		if calls == 3 {
			return false, broken
		}
		return false, nil
	}, time.Hour)
	if !errors.Is(err, broken) {
		t.Fatalf("Collect = %v, want the reference check's error", err)
	}
	if res.Removed != 2 {
		t.Fatalf("Collect removed %d blobs before the failing check, want 2", res.Removed)
	}
	left := 0
	for _, k := range keys {
		if exists(t, s, k) {
			left++
		}
	}
	if left != 2 {
		t.Fatalf("%d blobs left, want the 2 from the failing check on", left)
	}
}

func TestCollectKeepsBlobPutDuringScan(t *testing.T) {
	s, keys := gcStore(t, "racing delivery")
	res, err := blob.Collect(t.Context(), s, func(ctx context.Context, k blob.Key) (bool, error) {
		// The delivery Puts between the scan's look and the deletion.
		if _, err := s.Put(ctx, []byte("racing delivery")); err != nil {
			return false, err
		}
		return false, nil
	}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 0 || !exists(t, s, keys[0]) {
		t.Fatalf("Collect = %+v; a blob refreshed during the scan was removed", res)
	}
}

func TestCollectCanceled(t *testing.T) {
	s, keys := gcStore(t, "x", "y")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := blob.Collect(ctx, s, refs(), time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Collect with a canceled context = %v", err)
	}
	for _, k := range keys {
		if !exists(t, s, k) {
			t.Fatalf("canceled collection removed %s", k)
		}
	}
	if _, err := blob.Collect(t.Context(), s, refs(), -time.Second); err == nil {
		t.Fatal("Collect accepted a negative grace period")
	}
}
