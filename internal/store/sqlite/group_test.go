package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"casella/internal/sqlprep"
	"casella/internal/store"
)

// hold queues a write whose work waits for release, and returns once the
// writer runs it: the requests queued after it then form one group with it.
func hold(t *testing.T, s *Store) (release func(), wait func()) {
	t.Helper()
	started, rel := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		err := s.group.run(t.Context(), func(context.Context, *sqlprep.Tx) error {
			close(started)
			<-rel
			return nil
		})
		if err != nil {
			t.Errorf("held write: %v", err)
		}
	})
	<-started
	return func() { close(rel) }, wg.Wait
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
	if err := s.group.sizes.Write(&m); err != nil {
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
	held()
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
	held()
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
