// Package blobtest is the conformance suite for blob.Store implementations.
// Every implementation (filesystem, S3, replicated) runs it from its own
// tests:
//
//	func TestConformance(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) blob.Store { return open(t, t.TempDir()) })
//	}
//
// Implementation notes:
//   - Each subtest opens its own, empty store, so subtests never depend on
//     one another and may be run alone with -run.
//   - The suite asserts behaviour only through the blob.Store interface; it
//     never looks at how a store lays its data out.
//   - Nothing here asserts speed. The one wait (for a refreshed ModTime)
//     polls until the store's clock granularity lets the time move, with a
//     bounded deadline.
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"casella/internal/blob"
)

// Run runs the conformance suite. open must return a new, empty store; it
// should register any cleanup with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"CallerOwnsSlices", testCallerOwnsSlices},
		{"Missing", testMissing},
		{"InvalidKeys", testInvalidKeys},
		{"PutTwice", testPutTwice},
		{"Delete", testDelete},
		{"Walk", testWalk},
		{"WalkStops", testWalkStops},
		{"ConcurrentPuts", testConcurrentPuts},
		{"Canceled", testCanceled},
		{"CanceledDuringWalk", testCanceledDuringWalk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

// content returns n deterministic pseudo-random bytes, distinct per seed.
func content(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func mustPut(t *testing.T, s blob.Store, data []byte) blob.Key {
	t.Helper()
	key, err := s.Put(t.Context(), data)
	if err != nil {
		t.Fatalf("Put(%d bytes): %v", len(data), err)
	}
	if want := blob.KeyOf(data); key != want {
		t.Fatalf("Put returned key %s, want SHA-256 %s", key, want)
	}
	return key
}

func mustGet(t *testing.T, s blob.Store, key blob.Key, want []byte) {
	t.Helper()
	got, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%s) returned %d bytes that differ from the %d stored", key, len(got), len(want))
	}
}

func wantNotFound(t *testing.T, s blob.Store, key blob.Key) {
	t.Helper()
	data, err := s.Get(t.Context(), key)
	if !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Get(%q) = %d bytes, %v; want an error wrapping blob.ErrNotFound", key, len(data), err)
	}
	if data != nil {
		t.Fatalf("Get(%q) returned %d bytes with its error", key, len(data))
	}
	if _, err := s.Stat(t.Context(), key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat(%q) = %v; want an error wrapping blob.ErrNotFound", key, err)
	}
}

func walkKeys(t *testing.T, s blob.Store, after blob.Key) []blob.Key {
	t.Helper()
	var keys []blob.Key
	err := s.Walk(t.Context(), after, func(info blob.Info) error {
		keys = append(keys, info.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("Walk(%q): %v", after, err)
	}
	return keys
}

func testRoundTrip(t *testing.T, s blob.Store) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"empty", []byte{}},
		{"one byte", []byte{'x'}},
		{"binary", all},
		{"text", []byte("Subject: hi\r\n\r\nhello\r\n")},
		{"1MiB", content(1, 1<<20)},
	}
	for _, c := range cases {
		key := mustPut(t, s, c.data)
		if !key.Valid() {
			t.Fatalf("%s: Put returned invalid key %q", c.name, key)
		}
		mustGet(t, s, key, c.data)
		info, err := s.Stat(t.Context(), key)
		if err != nil {
			t.Fatalf("%s: Stat: %v", c.name, err)
		}
		if info.Key != key || info.Size != int64(len(c.data)) {
			t.Fatalf("%s: Stat = %+v, want key %s size %d", c.name, info, key, len(c.data))
		}
		if info.ModTime.IsZero() {
			t.Fatalf("%s: Stat has a zero ModTime", c.name)
		}
	}
}

func testCallerOwnsSlices(t *testing.T, s blob.Store) {
	data := []byte("the caller may reuse its buffer")
	orig := bytes.Clone(data)
	key := mustPut(t, s, data)
	data[0] = 'X'
	got, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	got[1] = 'Y'
	mustGet(t, s, key, orig)
}

func testMissing(t *testing.T, s blob.Store) {
	mustPut(t, s, []byte("present"))
	wantNotFound(t, s, blob.KeyOf([]byte("absent")))
}

func testInvalidKeys(t *testing.T, s blob.Store) {
	data := []byte("a blob that must survive hostile keys")
	key := mustPut(t, s, data)
	k := string(key)
	invalid := []blob.Key{
		"",
		"ab",
		blob.Key(strings.ToUpper(k)),
		blob.Key(k + "/"),
		blob.Key(k[:63]),
		blob.Key(k + "0"),
		blob.Key(k[:2] + "/" + k[2:4] + "/" + k),
		blob.Key("../" + k[3:]),
		blob.Key("../../../../../../../../etc/passwd"),
		blob.Key(strings.Repeat("../", 21) + "x"),
		blob.Key(k[:62] + "/."),
		blob.Key(k[:63] + "\x00"),
		blob.Key(k[:63] + "g"),
		blob.Key("/" + k[1:]),
		"tmp",
	}
	for _, bad := range invalid {
		if bad.Valid() {
			t.Fatalf("test bug: %q is a valid key", bad)
		}
		wantNotFound(t, s, bad)
		if err := s.Delete(t.Context(), bad); err != nil {
			t.Fatalf("Delete(%q) = %v; want nil, since no blob has an invalid key", bad, err)
		}
	}
	mustGet(t, s, key, data)
	if keys := walkKeys(t, s, ""); !slices.Equal(keys, []blob.Key{key}) {
		t.Fatalf("after hostile keys, Walk lists %v, want only %s", keys, key)
	}
}

func testPutTwice(t *testing.T, s blob.Store) {
	data := []byte("delivered to two recipients")
	key := mustPut(t, s, data)
	first, err := s.Stat(t.Context(), key)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	// Stores keep modification times at different granularities (a
	// filesystem in nanoseconds, S3 in seconds): Put again until the time
	// can have moved, and require that it does.
	deadline := time.Now().Add(5 * time.Second)
	for {
		time.Sleep(20 * time.Millisecond)
		if k := mustPut(t, s, data); k != key {
			t.Fatalf("second Put returned %s, first %s", k, key)
		}
		info, err := s.Stat(t.Context(), key)
		if err != nil {
			t.Fatalf("Stat: %v", err)
		}
		if info.ModTime.Before(first.ModTime) {
			t.Fatalf("Put of existing content moved ModTime back from %v to %v", first.ModTime, info.ModTime)
		}
		if info.ModTime.After(first.ModTime) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Put of existing content did not refresh ModTime (still %v)", first.ModTime)
		}
	}
	mustGet(t, s, key, data)
	if keys := walkKeys(t, s, ""); len(keys) != 1 {
		t.Fatalf("after two Puts of one content Walk lists %d blobs, want 1", len(keys))
	}
}

func testDelete(t *testing.T, s blob.Store) {
	keep := mustPut(t, s, []byte("keep"))
	gone := mustPut(t, s, []byte("gone"))
	if err := s.Delete(t.Context(), gone); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, s, gone)
	if err := s.Delete(t.Context(), gone); err != nil {
		t.Fatalf("Delete of a deleted blob = %v, want nil", err)
	}
	if err := s.Delete(t.Context(), blob.KeyOf([]byte("never stored"))); err != nil {
		t.Fatalf("Delete of a missing blob = %v, want nil", err)
	}
	mustGet(t, s, keep, []byte("keep"))
	if keys := walkKeys(t, s, ""); !slices.Equal(keys, []blob.Key{keep}) {
		t.Fatalf("Walk after Delete lists %v, want [%s]", keys, keep)
	}
	// A deleted blob can be stored again.
	mustPut(t, s, []byte("gone"))
	mustGet(t, s, gone, []byte("gone"))
}

func testWalk(t *testing.T, s blob.Store) {
	if keys := walkKeys(t, s, ""); len(keys) != 0 {
		t.Fatalf("Walk of an empty store lists %v", keys)
	}
	sizes := map[blob.Key]int64{}
	var want []blob.Key
	for i := range 40 {
		data := content(uint64(100+i), i*7)
		key := mustPut(t, s, data)
		sizes[key] = int64(len(data))
		want = append(want, key)
	}
	slices.Sort(want)

	var infos []blob.Info
	err := s.Walk(t.Context(), "", func(info blob.Info) error {
		infos = append(infos, info)
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	if len(infos) != len(want) {
		t.Fatalf("Walk listed %d blobs, want %d", len(infos), len(want))
	}
	for i, info := range infos {
		if info.Key != want[i] {
			t.Fatalf("Walk entry %d is %s, want %s (key order)", i, info.Key, want[i])
		}
		if info.Size != sizes[info.Key] {
			t.Fatalf("Walk entry %s has size %d, want %d", info.Key, info.Size, sizes[info.Key])
		}
		if info.ModTime.IsZero() {
			t.Fatalf("Walk entry %s has a zero ModTime", info.Key)
		}
	}

	for _, i := range []int{0, 1, 17, len(want) - 2, len(want) - 1} {
		if got := walkKeys(t, s, want[i]); !slices.Equal(got, want[i+1:]) {
			t.Fatalf("Walk after entry %d listed %d keys, want the %d that follow", i, len(got), len(want)-i-1)
		}
	}
	// Resuming after a key that is not stored, or after a mere prefix,
	// lists the keys that sort after it.
	for _, after := range []blob.Key{"8", "80", "8000", blob.Key(strings.Repeat("7", 64)), "g"} {
		var expect []blob.Key
		for _, k := range want {
			if k > after {
				expect = append(expect, k)
			}
		}
		if got := walkKeys(t, s, after); !slices.Equal(got, expect) {
			t.Fatalf("Walk after %q listed %v, want %v", after, got, expect)
		}
	}
}

func testWalkStops(t *testing.T, s blob.Store) {
	for i := range 5 {
		mustPut(t, s, content(uint64(200+i), 10))
	}
	stop := errors.New("stop here")
	calls := 0
	err := s.Walk(t.Context(), "", func(blob.Info) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Walk returned %v, want the callback's error", err)
	}
	if calls != 2 {
		t.Fatalf("Walk called fn %d times after it failed on the 2nd", calls)
	}
}

func testConcurrentPuts(t *testing.T, s blob.Store) {
	same := content(300, 64<<10)
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers*2)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if _, err := s.Put(t.Context(), same); err != nil {
					errs <- fmt.Errorf("Put same content: %w", err)
					return
				}
			}
			if _, err := s.Put(t.Context(), content(uint64(400+w), 4096)); err != nil {
				errs <- fmt.Errorf("Put distinct content: %w", err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mustGet(t, s, blob.KeyOf(same), same)
	for w := range workers {
		data := content(uint64(400+w), 4096)
		mustGet(t, s, blob.KeyOf(data), data)
	}
	if keys := walkKeys(t, s, ""); len(keys) != workers+1 {
		t.Fatalf("Walk lists %d blobs after concurrent Puts, want %d", len(keys), workers+1)
	}
}

func testCanceled(t *testing.T, s blob.Store) {
	stored := []byte("stored before the cancel")
	key := mustPut(t, s, stored)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	fresh := []byte("put with a canceled context")
	if _, err := s.Put(ctx, fresh); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a canceled context = %v, want context.Canceled", err)
	}
	wantNotFound(t, s, blob.KeyOf(fresh))
	if data, err := s.Get(ctx, key); !errors.Is(err, context.Canceled) || data != nil {
		t.Fatalf("Get with a canceled context = %d bytes, %v; want context.Canceled", len(data), err)
	}
	if _, err := s.Stat(ctx, key); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stat with a canceled context = %v, want context.Canceled", err)
	}
	if err := s.Delete(ctx, key); !errors.Is(err, context.Canceled) {
		t.Fatalf("Delete with a canceled context = %v, want context.Canceled", err)
	}
	called := false
	err := s.Walk(ctx, "", func(blob.Info) error { called = true; return nil })
	if !errors.Is(err, context.Canceled) || called {
		t.Fatalf("Walk with a canceled context = %v (fn called: %v), want context.Canceled", err, called)
	}
	mustGet(t, s, key, stored)
}

func testCanceledDuringWalk(t *testing.T, s blob.Store) {
	const n = 10
	for i := range n {
		mustPut(t, s, content(uint64(500+i), 10))
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	calls := 0
	err := s.Walk(ctx, "", func(blob.Info) error {
		calls++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Walk canceled by its callback returned %v, want context.Canceled", err)
	}
	if calls != 1 {
		t.Fatalf("Walk called fn %d times after the context was canceled in the first", calls)
	}
}
