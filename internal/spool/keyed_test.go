package spool

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func enqueueKeyed(t *testing.T, s *Spool, key string, env Envelope) (string, bool) {
	t.Helper()
	id, dup, err := s.EnqueueKeyed(context.Background(), key, env, []byte("Subject: side mail\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !validID(id) || !keyed(id) {
		t.Fatalf("keyed entry has id %q", id)
	}
	return id, dup
}

func keyUsed(t *testing.T, s *Spool, key string, env Envelope) (string, bool) {
	t.Helper()
	id, used, err := s.KeyUsed(context.Background(), key, env.Received)
	if err != nil {
		t.Fatal(err)
	}
	return id, used
}

// A key enqueues once: while its entry waits, after it was delivered and
// left, and after a restart, every later call is a duplicate. Another key
// of the same delivery is another entry.
func TestEnqueueKeyedReplays(t *testing.T) {
	dir := t.TempDir()
	env := envFor(0)
	env.Recipients[0].Address = "friend@example.net"
	env.Received = time.Unix(1700000000, 42)

	s := openSpool(t, dir, Options{PollInterval: 5 * time.Millisecond})
	if _, used := keyUsed(t, s, "entry1/0/redirect/friend@example.net", env); used {
		t.Fatal("KeyUsed before the first call says used")
	}
	id, dup := enqueueKeyed(t, s, "entry1/0/redirect/friend@example.net", env)
	if dup {
		t.Fatal("first call reported a duplicate")
	}
	if got, used := keyUsed(t, s, "entry1/0/redirect/friend@example.net", env); !used || got != id {
		t.Fatalf("KeyUsed while waiting = %s, %v; want %s, true", got, used, id)
	}
	if again, dup := enqueueKeyed(t, s, "entry1/0/redirect/friend@example.net", env); !dup || again != id {
		t.Fatalf("second call while waiting: id %s dup %v, want %s, true", again, dup, id)
	}
	other, dup := enqueueKeyed(t, s, "entry1/0/vacation", env)
	if dup || other == id {
		t.Fatalf("another key: id %s dup %v", other, dup)
	}

	rec := &recorder{}
	stop := runLoop(t, s, rec)
	waitFor(t, "queue to drain", settled(s))
	stop()
	if rec.count() != 2 {
		t.Fatalf("handled %d entries, want 2", rec.count())
	}
	if names := dirNames(t, filepath.Join(dir, queueDir)); len(names) != 0 {
		t.Fatalf("queue/ holds %v after delivery", names)
	}
	if fi, err := os.Stat(s.sentPath(id)); err != nil || fi.Size() != 0 {
		t.Fatalf("sent/%s: %v, %v; want an empty file", id, fi, err)
	}

	// The delivery that sent it is replayed after a restart.
	s2 := openSpool(t, dir, Options{})
	for _, key := range []string{"entry1/0/redirect/friend@example.net", "entry1/0/vacation"} {
		if _, used := keyUsed(t, s2, key, env); !used {
			t.Fatalf("KeyUsed(%s) after its entry left says unused", key)
		}
		if _, dup := enqueueKeyed(t, s2, key, env); !dup {
			t.Fatalf("key %s enqueued again after its entry left", key)
		}
	}
	if st := s2.Stats(); st.Depth != 0 {
		t.Fatalf("replays left %d entries", st.Depth)
	}
}

// In a spool whose handler absorbs replays (Options.ReplaySafe), where a
// delivered entry's removal takes no sync round of its own, the key of a
// delivered keyed entry is used after a restart as well.
func TestEnqueueKeyedReplaySafe(t *testing.T) {
	dir := t.TempDir()
	env := envFor(0)
	env.Received = time.Unix(1700000000, 7)
	s := openSpool(t, dir, Options{ReplaySafe: true, PollInterval: 5 * time.Millisecond})
	id, _ := enqueueKeyed(t, s, "entry2/0/redirect/u2@example.com", env)
	rec := &recorder{}
	stop := runLoop(t, s, rec)
	waitFor(t, "queue to drain", settled(s))
	stop()
	if rec.count() != 1 {
		t.Fatalf("handled %d entries, want 1", rec.count())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openSpool(t, dir, Options{ReplaySafe: true})
	if got, used := keyUsed(t, s2, "entry2/0/redirect/u2@example.com", env); !used || got != id {
		t.Fatalf("KeyUsed after a restart = %s, %v; want %s, true", got, used, id)
	}
	if _, err := os.Stat(s2.sentPath(id)); err != nil {
		t.Fatalf("the delivered entry left no name in sent/: %v", err)
	}
}

// An operator's removal keeps the key used; a corrupt entry moved aside
// does too.
func TestEnqueueKeyedRemovedAndCorrupt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openSpool(t, dir, Options{})
	env := envFor(0)
	id, _ := enqueueKeyed(t, s, "removed", env)
	if err := s.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, dup := enqueueKeyed(t, s, "removed", env); !dup {
		t.Fatal("a removed entry's key enqueued again")
	}
	id, _ = enqueueKeyed(t, s, "corrupt", env)
	if err := s.quarantine(id); err != nil {
		t.Fatal(err)
	}
	if _, dup := enqueueKeyed(t, s, "corrupt", env); !dup {
		t.Fatal("a corrupt entry's key enqueued again")
	}
}

// Keys are forgotten after the retention, not before; without a receive
// time there is no key.
func TestEnqueueKeyedRetention(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, Options{KeyRetention: time.Hour})
	env := envFor(0)
	young, _ := enqueueKeyed(t, s, "young", env)
	old, _ := enqueueKeyed(t, s, "old", env)
	for _, id := range []string{young, old} {
		if err := s.Remove(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(s.sentPath(old), past, past); err != nil {
		t.Fatal(err)
	}
	s.pruneSent()
	if _, dup := enqueueKeyed(t, s, "young", env); !dup {
		t.Fatal("a key within the retention was forgotten")
	}
	if _, dup := enqueueKeyed(t, s, "old", env); dup {
		t.Fatal("a key past the retention is still remembered")
	}

	env.Received = time.Time{}
	if _, _, err := s.EnqueueKeyed(context.Background(), "k", env, []byte("x")); err == nil {
		t.Fatal("EnqueueKeyed took an envelope without a receive time")
	}
	if _, _, err := s.KeyUsed(context.Background(), "k", env.Received); err == nil {
		t.Fatal("KeyUsed took no receive time")
	}
}
