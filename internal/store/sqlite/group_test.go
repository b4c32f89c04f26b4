package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"casella/internal/sqlprep"
	"casella/internal/store"
)

// hold queues a write whose work waits for release, and returns once the
// writer runs it: the requests queued after it then form one group with it.
// wait returns the held write's error.
func hold(t *testing.T, s *Store) (release func(), wait func() error) {
	t.Helper()
	started, rel := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.group.run(t.Context(), func(context.Context, *sqlprep.Tx) error {
			close(started)
			<-rel
			return nil
		})
	}()
	<-started
	return func() { close(rel) }, func() error { return <-done }
}

// queue runs f in a goroutine and returns once its write is queued behind
// the held one, so that the group's order is the order of the calls.
func queue(s *Store, wg *sync.WaitGroup, f func()) {
	n := len(s.group.reqs)
	wg.Go(f)
	for len(s.group.reqs) == n {
		runtime.Gosched()
	}
}

func groupCounts(t *testing.T, s *Store) (groups uint64, writes float64) {
	t.Helper()
	var m dto.Metric
	if err := s.group.metrics.sizes.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.Histogram.GetSampleCount(), m.Histogram.GetSampleSum()
}

// TestGroupCommit runs writes of several callers in one shared commit: a
// caller that fails loses only its own changes, the others keep theirs,
// and watchers hear nothing before the commit.
func TestGroupCommit(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	if err := s.EnsureAccount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	inbox, err := s.Mailbox(ctx, 1, store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, 1, inbox.ID, []store.NewMessage{testMessage(1), testMessage(2), testMessage(3)}); err != nil {
		t.Fatal(err)
	}
	watch, cancel := s.Watch(1)
	defer cancel()
	groups, writes := groupCounts(t, s)

	release, held := hold(t, s)
	var wg sync.WaitGroup
	var flagErrs [3]error
	for i := range flagErrs {
		queue(s, &wg, func() {
			_, flagErrs[i] = s.UpdateFlags(ctx, 1, store.FlagUpdate{Mailbox: inbox.ID,
				UIDs: []store.UIDRange{{First: uint32(i + 1), Last: uint32(i + 1)}}, Op: store.FlagsAdd, Flags: []string{store.FlagSeen}})
		})
	}
	// An append that fails after its first message was inserted.
	var badErr error
	queue(s, &wg, func() {
		_, badErr = s.Append(ctx, 1, inbox.ID, []store.NewMessage{testMessage(4), {Blob: "not a key", Size: 1}})
	})
	// A write that runs after the others changed the account, before
	// the commit: no watcher may have heard of it yet.
	var early bool
	queue(s, &wg, func() {
		err := s.group.run(ctx, func(context.Context, *sqlprep.Tx) error {
			select {
			case <-watch:
				early = true
			default:
			}
			return nil
		})
		if err != nil {
			t.Errorf("look: %v", err)
		}
	})
	var okUIDs []uint32
	var okErr error
	queue(s, &wg, func() { okUIDs, okErr = s.Append(ctx, 1, inbox.ID, []store.NewMessage{testMessage(5)}) })
	release()
	if err := held(); err != nil {
		t.Errorf("held write: %v", err)
	}
	wg.Wait()

	for i, err := range flagErrs {
		if err != nil {
			t.Errorf("flags of uid %d: %v", i+1, err)
		}
	}
	if badErr == nil {
		t.Errorf("append with a bad blob key succeeded")
	}
	if okErr != nil || len(okUIDs) != 1 || okUIDs[0] != 4 {
		t.Errorf("append after the failed one: uids %v, %v; want [4]", okUIDs, okErr)
	}
	if early {
		t.Errorf("a watcher was notified before the group committed")
	}
	select {
	case <-watch:
	default:
		t.Errorf("no notification after the group committed")
	}
	if g, w := groupCounts(t, s); g != groups+1 || w != writes+7 {
		t.Errorf("%d groups of %.0f writes; want 1 group of 7", g-groups, w-writes)
	}
	mb, err := s.Mailbox(ctx, 1, store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	if mb.Messages != 4 || mb.Unseen != 1 {
		t.Errorf("mailbox has %d messages, %d unseen; want 4 and 1 (the failed append rolled back alone)", mb.Messages, mb.Unseen)
	}
	var msgs []uint32
	err = s.Messages(ctx, 1, store.Query{Mailbox: inbox.ID}, func(m *store.Message) error {
		msgs = append(msgs, m.UID)
		return nil
	})
	if err != nil || len(msgs) != 4 || msgs[3] != 4 {
		t.Errorf("messages %v, %v; want UIDs 1-4", msgs, err)
	}
}

// TestCloseRunsQueued: writes queued when Close is called are committed
// before it returns; writes after it fail.
func TestCloseRunsQueued(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureAccount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	inbox, err := s.Mailbox(ctx, 1, store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	release, held := hold(t, s)
	var wg sync.WaitGroup
	for i := range 3 {
		queue(s, &wg, func() {
			if _, err := s.Append(ctx, 1, inbox.ID, []store.NewMessage{testMessage(i)}); err != nil {
				t.Errorf("append %d: %v", i, err)
			}
		})
	}
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	release()
	if err := held(); err != nil {
		t.Errorf("held write: %v", err)
	}
	wg.Wait()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Append(ctx, 1, inbox.ID, []store.NewMessage{testMessage(9)}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("append after Close: %v; want ErrUnavailable", err)
	}
	s = openPath(t, path)
	if mb, err := s.Mailbox(ctx, 1, store.Inbox); err != nil || mb.Messages != 3 {
		t.Errorf("after reopen: %d messages, %v; want 3", mb.Messages, err)
	}
}

// TestGroupCommitFails: when the shared COMMIT fails, every caller of the
// group gets the error and none of their changes is kept, even those
// whose own work went through; the writer then goes on with the next
// group. The COMMIT is made to fail by a deferred foreign key that one
// caller leaves violated, which SQLite checks only at COMMIT.
func TestGroupCommitFails(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	if err := s.EnsureAccount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	inbox, err := s.Mailbox(ctx, 1, store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, 1, inbox.ID, []store.NewMessage{testMessage(1), testMessage(2), testMessage(3)}); err != nil {
		t.Fatal(err)
	}
	groups, writes := groupCounts(t, s)

	release, held := hold(t, s)
	var wg sync.WaitGroup
	var flagErrs [3]error
	for i := range flagErrs {
		queue(s, &wg, func() {
			_, flagErrs[i] = s.UpdateFlags(ctx, 1, store.FlagUpdate{Mailbox: inbox.ID,
				UIDs: []store.UIDRange{{First: uint32(i + 1), Last: uint32(i + 1)}}, Op: store.FlagsAdd, Flags: []string{store.FlagSeen}})
		})
	}
	var appendErr error
	queue(s, &wg, func() { _, appendErr = s.Append(ctx, 1, inbox.ID, []store.NewMessage{testMessage(4)}) })
	var poisonErr error
	queue(s, &wg, func() {
		poisonErr = s.group.run(ctx, func(ctx context.Context, tx *sqlprep.Tx) error {
			if _, err := tx.ExecContext(ctx, `PRAGMA defer_foreign_keys = ON`); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO mailbox_keywords (mailbox, folded, keyword) VALUES (-1, 'x', 'x')`)
			return err
		})
	})
	release()
	if err := held(); err == nil {
		t.Errorf("held write: no error from a group whose commit failed")
	}
	wg.Wait()

	for i, err := range flagErrs {
		if err == nil {
			t.Errorf("flags of uid %d: no error from a group whose commit failed", i+1)
		}
	}
	if appendErr == nil {
		t.Errorf("append: no error from a group whose commit failed")
	}
	if poisonErr == nil {
		t.Errorf("the write that broke the commit got no error")
	}
	if g, w := groupCounts(t, s); g != groups+1 || w != writes+6 {
		t.Errorf("%d groups of %.0f writes; want 1 group of 6", g-groups, w-writes)
	}
	mb, err := s.Mailbox(ctx, 1, store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	if mb.Messages != 3 || mb.Unseen != 3 {
		t.Errorf("mailbox has %d messages, %d unseen; want the 3 unseen from before the failed group", mb.Messages, mb.Unseen)
	}
	// The writer recovers: the next write commits.
	if uids, err := s.Append(ctx, 1, inbox.ID, []store.NewMessage{testMessage(5)}); err != nil || len(uids) != 1 {
		t.Fatalf("append after the failed group: %v, %v", uids, err)
	}
	if mb, err := s.Mailbox(ctx, 1, store.Inbox); err != nil || mb.Messages != 4 {
		t.Errorf("after the next append: %d messages, %v; want 4", mb.Messages, err)
	}
}

// TestGroupCommitMany: 100 sessions writing at once share commits: one
// COMMIT (one fsync of the WAL) for every group, far fewer than writes,
// and every write is there afterwards.
func TestGroupCommitMany(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	const n = 100
	if err := s.EnsureAccount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	inbox, err := s.Mailbox(ctx, 1, store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]store.NewMessage, n)
	for i := range msgs {
		msgs[i] = testMessage(i)
	}
	if _, err := s.Append(ctx, 1, inbox.ID, msgs); err != nil {
		t.Fatal(err)
	}
	commits := func() uint64 {
		var m dto.Metric
		if err := s.group.metrics.commit.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.Histogram.GetSampleCount()
	}
	c0 := commits()
	release, held := hold(t, s)
	var wg sync.WaitGroup
	for i := range n {
		queue(s, &wg, func() {
			if _, err := s.UpdateFlags(ctx, 1, store.FlagUpdate{Mailbox: inbox.ID,
				UIDs: []store.UIDRange{{First: uint32(i + 1), Last: uint32(i + 1)}}, Op: store.FlagsAdd, Flags: []string{store.FlagSeen}}); err != nil {
				t.Errorf("store uid %d: %v", i+1, err)
			}
		})
	}
	release()
	if err := held(); err != nil {
		t.Errorf("held write: %v", err)
	}
	wg.Wait()
	if c := commits() - c0; c != 1 {
		t.Errorf("%d writes took %d commits; want 1", n+1, c)
	}
	if mb, err := s.Mailbox(ctx, 1, store.Inbox); err != nil || mb.Unseen != 0 {
		t.Errorf("%d unseen, %v; want every flag change kept", mb.Unseen, err)
	}
}

// TestWriteWait checks that casella_store_write_wait_seconds counts a
// write's time in the queue: one queued behind a write held for 50 ms
// waited at least that long, which the per-group metrics cannot show.
func TestWriteWait(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	if err := s.EnsureAccount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waits := func() (uint64, float64) {
		var m dto.Metric
		if err := s.group.metrics.wait.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.Histogram.GetSampleCount(), m.Histogram.GetSampleSum()
	}
	n0, sum0 := waits()
	const held = 50 * time.Millisecond
	release, heldErr := hold(t, s)
	var wg sync.WaitGroup
	queue(s, &wg, func() {
		if _, err := s.CreateMailbox(ctx, 1, "Waited", ""); err != nil {
			t.Errorf("queued write: %v", err)
		}
	})
	time.Sleep(held)
	release()
	if err := heldErr(); err != nil {
		t.Errorf("held write: %v", err)
	}
	wg.Wait()
	n, sum := waits()
	if n-n0 != 2 {
		t.Fatalf("%d waits observed; want 2 (the held write and the queued one)", n-n0)
	}
	if w := time.Duration((sum - sum0) * float64(time.Second)); w < held {
		t.Errorf("waits sum to %v; want at least the %v the queued write stood behind the held one", w, held)
	}
}
