package faults

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"casella/internal/blob"
	"casella/internal/blob/blobtest"
	"casella/internal/blob/fs"
)

func openBlobs(t *testing.T) (*Injector, blob.Store, blob.Key, []byte) {
	t.Helper()
	inner, err := fs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("Subject: drill\r\n\r\nstored before the fault\r\n")
	key, err := inner.Put(t.Context(), data)
	if err != nil {
		t.Fatal(err)
	}
	inj := New(nil)
	return inj, Blobs(inner, inj), key, data
}

// With no fault set the wrapper is a conforming blob store.
func TestBlobsConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		inner, err := fs.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return Blobs(inner, New(nil))
	})
}

func TestBlobsError(t *testing.T) {
	inj, s, key, _ := openBlobs(t)
	if err := inj.Set(TargetBlob, Error); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	_, putErr := s.Put(ctx, []byte("new"))
	_, getErr := s.Get(ctx, key)
	_, statErr := s.Stat(ctx, key)
	delErr := s.Delete(ctx, key)
	walkErr := s.Walk(ctx, "", func(blob.Info) error { return nil })
	for _, err := range []error{putErr, getErr, statErr, delErr, walkErr} {
		if !errors.Is(err, syscall.EIO) || !errors.Is(err, ErrInjected) {
			t.Fatalf("call under an error fault = %v, want an injected EIO", err)
		}
	}
	// Only the target that has the fault fails.
	if err := inj.Set(TargetBlob, None); err != nil {
		t.Fatal(err)
	}
	if err := inj.Set(TargetStore, Error); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, key); err != nil {
		t.Fatalf("blob Get with a fault on the store target: %v", err)
	}
}

func TestBlobsWriteFaults(t *testing.T) {
	for _, tt := range []struct {
		fault Fault
		errno syscall.Errno
		text  string
	}{
		{ReadOnly, syscall.EROFS, "read-only file system"},
		{NoSpace, syscall.ENOSPC, "no space left on device"},
	} {
		t.Run(tt.fault.String(), func(t *testing.T) {
			inj, s, key, data := openBlobs(t)
			if err := inj.Set(TargetBlob, tt.fault); err != nil {
				t.Fatal(err)
			}
			fresh := []byte("arrives during the fault")
			_, err := s.Put(t.Context(), fresh)
			if !errors.Is(err, tt.errno) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("Put = %v, want %v", err, tt.errno)
			}
			if err := s.Delete(t.Context(), key); !errors.Is(err, tt.errno) {
				t.Fatalf("Delete = %v, want %v", err, tt.errno)
			}
			got, err := s.Get(t.Context(), key)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Get during a %v fault = %d bytes, %v; reads must work", tt.fault, len(got), err)
			}
			if _, err := s.Stat(t.Context(), blob.KeyOf(fresh)); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("the failed Put stored its blob: Stat = %v", err)
			}
			n := 0
			if err := s.Walk(t.Context(), "", func(blob.Info) error { n++; return nil }); err != nil || n != 1 {
				t.Fatalf("Walk during a %v fault listed %d, %v", tt.fault, n, err)
			}
		})
	}
}

func TestBlobsCorrupt(t *testing.T) {
	inj, s, key, data := openBlobs(t)
	empty, err := s.Put(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := inj.Set(TargetBlob, Corrupt); err != nil {
		t.Fatal(err)
	}
	for _, k := range []blob.Key{key, empty} {
		got, err := s.Get(t.Context(), k)
		var ce *blob.CorruptError
		if !errors.As(err, &ce) || ce.Key != k || ce.Got == k {
			t.Fatalf("Get under a corrupt fault = %v, want a *blob.CorruptError for %s", err, k)
		}
		if got != nil {
			t.Fatalf("Get under a corrupt fault returned %d bytes", len(got))
		}
	}
	if _, err := s.Get(t.Context(), blob.KeyOf([]byte("absent"))); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Get of a missing blob under a corrupt fault = %v, want not found", err)
	}
	if _, err := s.Put(t.Context(), []byte("writes work")); err != nil {
		t.Fatalf("Put under a corrupt fault: %v", err)
	}
	inj.Clear()
	got, err := s.Get(t.Context(), key)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get after clearing = %d bytes, %v; the stored copy must be untouched", len(got), err)
	}
}

func TestBlobsHang(t *testing.T) {
	inj, s, key, data := openBlobs(t)
	if err := inj.Set(TargetBlob, Hang); err != nil {
		t.Fatal(err)
	}

	// A hung call returns its context's error when the context ends.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		_, err := s.Get(ctx, key)
		done <- err
	}()
	for inj.Hung() != 1 {
		runtime.Gosched()
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || !errors.Is(err, ErrInjected) {
		t.Fatalf("hung Get after cancel = %v, want context.Canceled", err)
	}

	// Clearing the fault releases the hung calls, which then succeed.
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Go(func() {
			got, err := s.Get(t.Context(), key)
			if err == nil && !bytes.Equal(got, data) {
				err = errors.New("released Get returned wrong bytes")
			}
			errs <- err
		})
	}
	for inj.Hung() != 3 {
		runtime.Gosched()
	}
	inj.Clear()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Get released by Clear: %v", err)
		}
	}
	if n := inj.Hung(); n != 0 {
		t.Fatalf("%d calls still counted as hung", n)
	}
}

// Set and Clear race with calls in progress; run with -race.
func TestBlobsConcurrentChanges(t *testing.T) {
	inj, s, key, data := openBlobs(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				got, err := s.Get(ctx, key)
				if err == nil && !bytes.Equal(got, data) {
					t.Error("Get returned wrong bytes")
					return
				}
				var ce *blob.CorruptError
				if err != nil && !errors.As(err, &ce) && !errors.Is(err, ErrInjected) {
					t.Errorf("Get: unexpected error %v", err)
					return
				}
			}
		})
	}
	for i := range 200 {
		f := []Fault{None, Error, Corrupt, ReadOnly, NoSpace}[i%5]
		if err := inj.Set(TargetBlob, f); err != nil {
			t.Fatal(err)
		}
	}
	inj.Clear()
	wg.Wait()
}
