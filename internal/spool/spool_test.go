package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openSpool(t *testing.T, dir string, opts Options) *Spool {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// envFor returns an envelope with one local recipient per account.
func envFor(accounts ...int64) Envelope {
	env := Envelope{From: "sender@example.org", Received: time.Now()}
	for _, a := range accounts {
		env.Recipients = append(env.Recipients, Recipient{Address: fmt.Sprintf("user%d@example.com", a), Account: a})
	}
	return env
}

func enqueue(t *testing.T, s *Spool, env Envelope, data string) string {
	t.Helper()
	id, err := s.Enqueue(context.Background(), env, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestEnqueueListGetRetryRemove(t *testing.T) {
	ctx := context.Background()
	s := openSpool(t, t.TempDir(), Options{})
	env := envFor(1, 2)
	env.Recipients[1].Tag = "lists"
	env.Recipients[0].Done = true // ignored: a new entry has no results
	id1 := enqueue(t, s, env, "Subject: one\r\n\r\nbody\r\n")
	id2 := enqueue(t, s, envFor(3), "Subject: two\r\n\r\n")
	if id1 >= id2 {
		t.Fatalf("ids do not sort by arrival: %s, %s", id1, id2)
	}

	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != id1 || list[1].ID != id2 {
		t.Fatalf("List = %+v", list)
	}
	if r := list[0].Envelope.Recipients; len(r) != 2 || r[0].Done || r[1].Tag != "lists" || r[1].Account != 2 {
		t.Fatalf("recipients = %+v", r)
	}

	e, data, err := s.Get(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "Subject: one\r\n\r\nbody\r\n" || e.Size != int64(len(data)) || e.Envelope.From != "sender@example.org" {
		t.Fatalf("Get = %+v, %q", e, data)
	}

	// A retry state written by the loop is reported, and Retry makes the
	// entry due now while keeping its attempts.
	e.Attempts, e.NextAttempt, e.LastError = 3, time.Now().Add(time.Hour), "store down"
	e.Envelope.Recipients[0].Done = true
	if err := s.writeState(&e); err != nil {
		t.Fatal(err)
	}
	if err := s.Retry(ctx, id1); err != nil {
		t.Fatal(err)
	}
	e, _, err = s.Get(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	if e.Attempts != 3 || !e.NextAttempt.IsZero() || e.LastError != "store down" || !e.Envelope.Recipients[0].Done {
		t.Fatalf("after Retry: %+v", e)
	}

	if st := s.Stats(); st.Depth != 2 || st.Bytes <= 0 {
		t.Fatalf("Stats = %+v", st)
	}
	if err := s.Remove(ctx, id1); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, id1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Remove: %v", err)
	}
	if _, _, err := s.Get(ctx, id1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get removed: %v", err)
	}
	if err := s.Retry(ctx, id1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Retry removed: %v", err)
	}
	if st := s.Stats(); st.Depth != 1 {
		t.Fatalf("Stats after Remove = %+v", st)
	}
	if names := dirNames(t, filepath.Join(s.dir, queueDir)); len(names) != 1 || names[0] != id2+".msg" {
		t.Fatalf("queue holds %v", names)
	}
}

func TestInvalidInput(t *testing.T) {
	ctx := context.Background()
	s := openSpool(t, t.TempDir(), Options{})
	if _, err := s.Enqueue(ctx, Envelope{From: "a@b"}, []byte("x")); err == nil {
		t.Fatal("Enqueue without recipients succeeded")
	}
	for _, id := range []string{"", "../lock", "00000000000000000001-0123456789ag", "x/../../etc/passwd"} {
		if _, _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) = %v", id, err)
		}
		if err := s.Remove(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Remove(%q) = %v", id, err)
		}
		if err := s.Retry(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Retry(%q) = %v", id, err)
		}
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, Options{})
	data := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	id := enqueue(t, s, envFor(7), string(data))

	// What a crash leaves is what is on disk: a fresh Spool sees it.
	s2 := openSpool(t, dir, Options{})
	e, got, err := s2.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) || e.Envelope.Recipients[0].Account != 7 {
		t.Fatalf("reopened entry differs: %+v", e)
	}
	if st := s2.Stats(); st.Depth != 1 {
		t.Fatalf("Stats after reopen = %+v", st)
	}
	if names := dirNames(t, filepath.Join(dir, tmpDir)); len(names) != 0 {
		t.Fatalf("temporary files left: %v", names)
	}
}

// A crash between writing the temporary file and renaming it leaves no
// entry, and recovery removes the temporary file.
func TestCrashBeforeRename(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, Options{})
	b, err := encodeEntry(envFor(1), []byte("half"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, tmpDir, s.newID()+".msg")
	if err := os.WriteFile(tmp, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * tempGrace)
	if err := os.Chtimes(tmp, old, old); err != nil {
		t.Fatal(err)
	}

	s2 := openSpool(t, dir, Options{})
	if list, err := s2.List(context.Background()); err != nil || len(list) != 0 {
		t.Fatalf("List = %v, %v", list, err)
	}
	h := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s2.Run(ctx, h) }()
	waitFor(t, "loop to start", func() bool { return s2.State().Running })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, filepath.Join(dir, tmpDir)); len(names) != 0 {
		t.Fatalf("temporary files left after recovery: %v", names)
	}
	if h.count() != 0 {
		t.Fatal("handler called for a half-written entry")
	}
}

func TestConcurrentEnqueue(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, Options{})
	const n = 50
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id, err := s.Enqueue(context.Background(), envFor(int64(i%5+1)), []byte(fmt.Sprintf("message %d", i)))
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	s2 := openSpool(t, dir, Options{})
	list, err := s2.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Fatalf("listed %d entries, want %d", len(list), n)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
	}
	for i, e := range list {
		if !seen[e.ID] || i > 0 && list[i-1].ID >= e.ID {
			t.Fatalf("unexpected or unsorted entry %s", e.ID)
		}
	}
}

func TestFull(t *testing.T) {
	ctx := context.Background()
	s := openSpool(t, t.TempDir(), Options{MaxEntries: 2})
	enqueue(t, s, envFor(1), "a")
	id := enqueue(t, s, envFor(1), "b")
	if _, err := s.Enqueue(ctx, envFor(1), []byte("c")); !errors.Is(err, ErrFull) {
		t.Fatalf("third Enqueue = %v, want ErrFull", err)
	}
	if err := s.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	enqueue(t, s, envFor(1), "c")

	s2 := openSpool(t, t.TempDir(), Options{MaxBytes: 1000})
	enqueue(t, s2, envFor(1), string(make([]byte, 500)))
	if _, err := s2.Enqueue(ctx, envFor(1), make([]byte, 500)); !errors.Is(err, ErrFull) {
		t.Fatalf("Enqueue over MaxBytes = %v, want ErrFull", err)
	}
	if names := dirNames(t, filepath.Join(s2.dir, tmpDir)); len(names) != 0 {
		t.Fatalf("temporary files left: %v", names)
	}
}

// A damaged entry is moved to corrupt/ and the others are delivered. The
// damage is a flipped bit, or what a power loss leaves of an entry whose
// Enqueue had not returned: its name with part of its bytes, or none.
func TestCorruptEntry(t *testing.T) {
	for name, damage := range map[string]func([]byte) []byte{
		"flipped": func(b []byte) []byte { b[len(b)-3] ^= 0x20; return b },
		"torn":    func(b []byte) []byte { return b[:len(b)/2] },
		"empty":   func([]byte) []byte { return nil },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := openSpool(t, dir, Options{})
			bad := enqueue(t, s, envFor(1), "Subject: damaged\r\n\r\nhello\r\n")
			good := enqueue(t, s, envFor(1), "Subject: fine\r\n\r\n")
			p := s.msgPath(bad)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, damage(b), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Get(context.Background(), bad); !errors.Is(err, errCorrupt) {
				t.Fatalf("Get of a damaged entry = %v", err)
			}

			h := &recorder{}
			stop := runLoop(t, openSpool(t, dir, Options{}), h)
			waitFor(t, "good entry delivered", func() bool { return h.count() == 1 })
			stop()
			if got := h.calls()[0]; got.id != good {
				t.Fatalf("delivered %s, want %s", got.id, good)
			}
			if names := dirNames(t, filepath.Join(dir, corruptDir)); len(names) != 1 || names[0] != bad+".msg" {
				t.Fatalf("corrupt/ holds %v", names)
			}
		})
	}
}

// waitFor polls cond until it holds; the bound only stops a broken test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}
