package replicated

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"casella/internal/blob"
	"casella/internal/blob/blobtest"
	"casella/internal/blob/fs"
	"casella/internal/blob/s3/s3test"
	"casella/internal/faults"
)

// set is a replicated store over filesystem replicas, each behind its own
// fault injector.
type set struct {
	*Store
	dirs   []*fs.Store
	faults []*faults.Injector
	hints  string
}

func newSet(t *testing.T, n int, opts Options) *set {
	t.Helper()
	st := &set{hints: filepath.Join(t.TempDir(), "hints")}
	var replicas []Replica
	for i := range n {
		d, err := fs.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		inj := faults.New(nil)
		st.dirs = append(st.dirs, d)
		st.faults = append(st.faults, inj)
		replicas = append(replicas, Replica{Name: fmt.Sprintf("r%d", i), Store: faults.Blobs(d, inj)})
	}
	if opts.HintDir == "" {
		opts.HintDir = st.hints
	}
	if opts.HedgeDelay == 0 {
		opts.HedgeDelay = 50 * time.Millisecond
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	s, err := New(replicas, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	st.Store = s
	return st
}

func (st *set) inject(t *testing.T, i int, f faults.Fault) {
	t.Helper()
	if err := st.faults[i].Set(faults.TargetBlob, f); err != nil {
		t.Fatal(err)
	}
}

// damage changes replica i's file of key behind the store's back.
func (st *set) damage(t *testing.T, i int, key blob.Key, how string) {
	t.Helper()
	path := st.dirs[i].Path(key)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	switch how {
	case "flip":
		data[len(data)/3] ^= 0x01
		err = os.WriteFile(path, data, 0o640)
	case "truncate":
		err = os.Truncate(path, int64(len(data)/2))
	case "delete":
		err = os.Remove(path)
	default:
		t.Fatalf("test bug: damage %q", how)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// good reports whether replica i holds a good copy of key, looking at the
// file directly.
func (st *set) good(i int, key blob.Key) bool {
	data, err := st.dirs[i].Get(context.Background(), key)
	return err == nil && blob.Verify(key, data) == nil
}

// waitGood waits until replica i holds a good copy: repairs run in the
// background.
func (st *set) waitGood(t *testing.T, i int, key blob.Key) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !st.good(i, key) {
		if time.Now().After(deadline) {
			t.Fatalf("replica r%d still has no good copy of %s", i, key)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func message(n int) []byte {
	return []byte(fmt.Sprintf("From: a@example.test\r\nSubject: %d\r\n\r\n%s\r\n", n, bytes.Repeat([]byte("body "), 200+n)))
}

func mustPut(t *testing.T, s blob.Store, data []byte) blob.Key {
	t.Helper()
	key, err := s.Put(t.Context(), data)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	return key
}

func mustGet(t *testing.T, s blob.Store, key blob.Key, want []byte) {
	t.Helper()
	got, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get returned %d wrong bytes", len(got))
	}
}

func TestConformance(t *testing.T) {
	t.Run("fs+fs", func(t *testing.T) {
		blobtest.Run(t, func(t *testing.T) blob.Store { return newSet(t, 2, Options{}) })
	})
	t.Run("fs+s3", func(t *testing.T) {
		srv := s3test.Start(t)
		blobtest.Run(t, func(t *testing.T) blob.Store {
			d, err := fs.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			s, err := New([]Replica{{"fs", d}, {"s3", srv.Open(t)}}, Options{HintDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

// TestDamagedPreferredCopy damages the preferred replica's copy in each way
// a disk can: every read returns the right bytes, and the copy is repaired.
func TestDamagedPreferredCopy(t *testing.T) {
	for _, how := range []string{"flip", "truncate", "delete"} {
		t.Run(how, func(t *testing.T) {
			st := newSet(t, 2, Options{})
			data := message(1)
			key := mustPut(t, st, data)
			st.damage(t, 0, key, how)
			mustGet(t, st, key, data)
			st.waitGood(t, 0, key)
			mustGet(t, st.dirs[0], key, data)
		})
	}
}

// TestBrokenBackend makes the preferred replica fail in each way a backend
// can: reads still return the right bytes.
func TestBrokenBackend(t *testing.T) {
	for _, f := range []faults.Fault{faults.Error, faults.Hang, faults.Corrupt} {
		t.Run(f.String(), func(t *testing.T) {
			st := newSet(t, 3, Options{})
			data := message(2)
			key := mustPut(t, st, data)
			st.inject(t, 0, f)
			start := time.Now()
			mustGet(t, st, key, data)
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("Get around a %s replica took %v", f, d)
			}
			st.inject(t, 0, faults.None)
		})
	}
}

func TestNoGoodCopy(t *testing.T) {
	st := newSet(t, 2, Options{})
	data := message(3)
	key := mustPut(t, st, data)
	st.damage(t, 0, key, "flip")
	st.damage(t, 1, key, "delete")
	got, err := st.Get(t.Context(), key)
	var corrupt *blob.CorruptError
	if got != nil || !errors.As(err, &corrupt) || errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Get with one corrupt and one missing copy = %d bytes, %v; want a corruption error that is not ErrNotFound", len(got), err)
	}
	t.Logf("error: %v", err)

	st.inject(t, 0, faults.Error)
	if _, err := st.Get(t.Context(), key); err == nil || errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Get with one failing and one missing replica = %v; want a failure that is not ErrNotFound", err)
	}
	st.inject(t, 0, faults.None)

	st.damage(t, 0, key, "delete")
	if _, err := st.Get(t.Context(), key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Get with no copy anywhere = %v; want ErrNotFound", err)
	}
}

func TestWriteQuorum(t *testing.T) {
	st := newSet(t, 2, Options{})
	st.inject(t, 1, faults.NoSpace)
	data := message(4)
	if _, err := st.Put(t.Context(), data); err == nil {
		t.Fatal("Put succeeded with a full replica and a quorum of all")
	} else if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put error %v does not carry ENOSPC", err)
	}
	if n := st.Pending("r1"); n != 0 {
		t.Fatalf("a failed Put left %d hints", n)
	}
}

// TestHintedWrite writes with one replica down and a quorum of one: the
// write succeeds, a hint is recorded, and the blob reaches the replica when
// it returns, even across a restart of the store.
func TestHintedWrite(t *testing.T) {
	for _, f := range []faults.Fault{faults.Error, faults.Hang} {
		t.Run(f.String(), func(t *testing.T) {
			st := newSet(t, 2, Options{WriteQuorum: 1, ReplayInterval: time.Hour})
			st.inject(t, 1, f)
			data := message(5)
			key := mustPut(t, st, data)
			if n := st.Pending("r1"); n != 1 {
				t.Fatalf("after a write that missed r1, %d hints pending, want 1", n)
			}
			if st.good(1, key) {
				t.Fatal("the down replica has the blob")
			}
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			err := st.Replay(ctx)
			cancel()
			if err == nil {
				t.Fatal("Replay to a replica still down succeeded")
			}

			// Restart: a new store over the same replicas and hint
			// directory, replaying often.
			st.Close()
			st.inject(t, 1, faults.None)
			s2, err := New(st.replicas, Options{HintDir: st.hints, ReplayInterval: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			st.waitGood(t, 1, key)
			deadline := time.Now().Add(5 * time.Second)
			for s2.Pending("r1") != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%d hints still pending after replay", s2.Pending("r1"))
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func TestRepairOfDownReplicaIsHinted(t *testing.T) {
	st := newSet(t, 2, Options{ReplayInterval: time.Hour})
	data := message(6)
	key := mustPut(t, st, data)
	st.damage(t, 0, key, "delete")
	st.inject(t, 0, faults.ReadOnly)
	mustGet(t, st, key, data)
	deadline := time.Now().Add(5 * time.Second)
	for st.Pending("r0") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("a repair that failed left no hint")
		}
		time.Sleep(10 * time.Millisecond)
	}
	st.inject(t, 0, faults.None)
	if err := st.Replay(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !st.good(0, key) || st.Pending("r0") != 0 {
		t.Fatal("replay did not restore the copy")
	}
}

func TestHintForDeletedBlobIsDropped(t *testing.T) {
	st := newSet(t, 2, Options{WriteQuorum: 1, ReplayInterval: time.Hour})
	st.inject(t, 1, faults.Error)
	key := mustPut(t, st, message(7))
	st.inject(t, 1, faults.None)
	if err := st.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	if err := st.Replay(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := st.Pending("r1"); n != 0 || st.good(1, key) {
		t.Fatalf("replay of a deleted blob: %d hints, copy present %v", n, st.good(1, key))
	}
}

func TestWalkUnion(t *testing.T) {
	st := newSet(t, 2, Options{})
	var keys []blob.Key
	for i := range 5 {
		keys = append(keys, mustPut(t, st, message(10+i)))
	}
	st.damage(t, 0, keys[1], "delete")
	st.damage(t, 1, keys[3], "delete")
	n := 0
	if err := st.Walk(t.Context(), "", func(blob.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Fatalf("Walk listed %d blobs, want the union of 5", n)
	}
	st.inject(t, 0, faults.Error)
	n = 0
	if err := st.Walk(t.Context(), "", func(blob.Info) error { n++; return nil }); err != nil {
		t.Fatalf("Walk with one replica failing: %v", err)
	}
	if n != 4 {
		t.Fatalf("Walk with r0 failing listed %d blobs, want r1's 4", n)
	}
}

func TestNew(t *testing.T) {
	d, err := fs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		replicas []Replica
		opts     Options
	}{
		{nil, Options{HintDir: t.TempDir()}},
		{[]Replica{{"a", d}, {"a", d}}, Options{HintDir: t.TempDir()}},
		{[]Replica{{"../x", d}}, Options{HintDir: t.TempDir()}},
		{[]Replica{{"a", d}}, Options{HintDir: t.TempDir(), WriteQuorum: 2}},
		{[]Replica{{"a", d}}, Options{}},
	} {
		if s, err := New(c.replicas, c.opts); err == nil {
			s.Close()
			t.Errorf("New(%v, %+v) succeeded", c.replicas, c.opts)
		}
	}
}
