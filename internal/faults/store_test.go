package faults

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"casella/internal/blob"
	"casella/internal/store"
	"casella/internal/store/sqlite"
	"casella/internal/store/storetest"
)

const acct store.Account = 1

func openStore(t *testing.T, inj *Injector) store.Store {
	t.Helper()
	inner, err := sqlite.Open(filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	s := Store(inner, inj)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// With no fault set the wrapper is a conforming mailbox store.
func TestStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openStore(t, New(nil)) })
}

// storeCall is one method of the store, called with arguments valid for
// the account that prepare creates.
type storeCall struct {
	name  string
	write bool
	call  func(ctx context.Context, s store.Store, inbox int64) error
}

var storeCalls = []storeCall{
	{"EnsureAccount", true, func(ctx context.Context, s store.Store, _ int64) error {
		return s.EnsureAccount(ctx, acct)
	}},
	{"Usage", false, func(ctx context.Context, s store.Store, _ int64) error {
		_, err := s.Usage(ctx, acct)
		return err
	}},
	{"Mailboxes", false, func(ctx context.Context, s store.Store, _ int64) error {
		_, err := s.Mailboxes(ctx, acct)
		return err
	}},
	{"Mailbox", false, func(ctx context.Context, s store.Store, _ int64) error {
		_, err := s.Mailbox(ctx, acct, store.Inbox)
		return err
	}},
	{"CreateMailbox", true, func(ctx context.Context, s store.Store, _ int64) error {
		_, err := s.CreateMailbox(ctx, acct, "Projects", "")
		return err
	}},
	{"RenameMailbox", true, func(ctx context.Context, s store.Store, _ int64) error {
		return s.RenameMailbox(ctx, acct, "Archive", "Old")
	}},
	{"Subscribe", true, func(ctx context.Context, s store.Store, _ int64) error {
		return s.Subscribe(ctx, acct, "Sent", true)
	}},
	{"Subscriptions", false, func(ctx context.Context, s store.Store, _ int64) error {
		_, err := s.Subscriptions(ctx, acct)
		return err
	}},
	{"Keywords", false, func(ctx context.Context, s store.Store, inbox int64) error {
		_, err := s.Keywords(ctx, acct, inbox)
		return err
	}},
	{"Metadata", false, func(ctx context.Context, s store.Store, inbox int64) error {
		_, err := s.Metadata(ctx, acct, inbox)
		return err
	}},
	{"SetMetadata", true, func(ctx context.Context, s store.Store, inbox int64) error {
		return s.SetMetadata(ctx, acct, inbox, []store.MetadataEntry{{Name: "/private/comment", Value: []byte("x")}})
	}},
	{"ClaimRecent", true, func(ctx context.Context, s store.Store, inbox int64) error {
		_, err := s.ClaimRecent(ctx, acct, inbox, 1)
		return err
	}},
	{"Deliver", true, func(ctx context.Context, s store.Store, _ int64) error {
		_, err := s.Deliver(ctx, store.Delivery{Key: "drill-2", Account: acct, Message: newMessage()})
		return err
	}},
	{"Append", true, func(ctx context.Context, s store.Store, inbox int64) error {
		_, err := s.Append(ctx, acct, inbox, []store.NewMessage{newMessage()})
		return err
	}},
	{"Messages", false, func(ctx context.Context, s store.Store, inbox int64) error {
		return s.Messages(ctx, acct, store.Query{Mailbox: inbox}, func(*store.Message) error { return nil })
	}},
	{"UpdateFlags", true, func(ctx context.Context, s store.Store, inbox int64) error {
		_, err := s.UpdateFlags(ctx, acct, store.FlagUpdate{Mailbox: inbox, Op: store.FlagsAdd, Flags: []string{store.FlagDeleted}})
		return err
	}},
	{"Copy", true, func(ctx context.Context, s store.Store, inbox int64) error {
		trash, err := s.Mailbox(ctx, acct, "Trash")
		if err != nil {
			return err
		}
		_, err = s.Copy(ctx, acct, inbox, nil, trash.ID)
		return err
	}},
	{"Move", true, func(ctx context.Context, s store.Store, inbox int64) error {
		junk, err := s.Mailbox(ctx, acct, "Junk")
		if err != nil {
			return err
		}
		_, err = s.Move(ctx, acct, inbox, nil, junk.ID)
		return err
	}},
	{"Expunge", true, func(ctx context.Context, s store.Store, inbox int64) error {
		_, err := s.Expunge(ctx, acct, inbox, nil)
		return err
	}},
	{"Changes", false, func(ctx context.Context, s store.Store, _ int64) error {
		_, _, err := s.Changes(ctx, acct, 0, 0, 0)
		return err
	}},
	{"BlobReferenced", false, func(ctx context.Context, s store.Store, _ int64) error {
		_, err := s.BlobReferenced(ctx, blob.KeyOf([]byte("drill")))
		return err
	}},
	{"Blobs", false, func(ctx context.Context, s store.Store, _ int64) error {
		return s.Blobs(ctx, func(blob.Key) error { return nil })
	}},
	{"DeleteMailbox", true, func(ctx context.Context, s store.Store, _ int64) error {
		return s.DeleteMailbox(ctx, acct, "Drafts")
	}},
	{"DeleteAccount", true, func(ctx context.Context, s store.Store, _ int64) error {
		return s.DeleteAccount(ctx, acct)
	}},
}

func newMessage() store.NewMessage {
	data := []byte("Subject: drill\r\n\r\nbody\r\n")
	return store.NewMessage{Blob: blob.KeyOf(data), Size: int64(len(data))}
}

// prepare creates the account with one delivered message and returns its
// inbox.
func prepare(t *testing.T, s store.Store) int64 {
	t.Helper()
	if err := s.EnsureAccount(t.Context(), acct); err != nil {
		t.Fatal(err)
	}
	d, err := s.Deliver(t.Context(), store.Delivery{Key: "drill-1", Account: acct, Message: newMessage()})
	if err != nil {
		t.Fatal(err)
	}
	return d.Mailbox
}

func TestStoreFaults(t *testing.T) {
	for _, tt := range []struct {
		fault      Fault
		errno      syscall.Errno
		readsWork  bool
		writesWork bool
	}{
		{Error, syscall.EIO, false, false},
		{ReadOnly, syscall.EROFS, true, false},
		{NoSpace, syscall.ENOSPC, true, false},
	} {
		t.Run(tt.fault.String(), func(t *testing.T) {
			inj := New(nil)
			s := openStore(t, inj)
			inbox := prepare(t, s)
			if err := inj.Set(TargetStore, tt.fault); err != nil {
				t.Fatal(err)
			}
			for _, c := range storeCalls {
				err := c.call(t.Context(), s, inbox)
				works := tt.readsWork
				if c.write {
					works = tt.writesWork
				}
				if works && err != nil {
					t.Fatalf("%s under %v = %v, want success", c.name, tt.fault, err)
				}
				if !works && (!errors.Is(err, store.ErrUnavailable) || !errors.Is(err, tt.errno) || !errors.Is(err, ErrInjected)) {
					t.Fatalf("%s under %v = %v, want an injected %v wrapping store.ErrUnavailable", c.name, tt.fault, err, tt.errno)
				}
			}
			// Clearing the fault lets every call through again.
			inj.Clear()
			for _, c := range storeCalls {
				if err := c.call(t.Context(), s, inbox); err != nil {
					t.Fatalf("%s after Clear: %v", c.name, err)
				}
			}
		})
	}
}

func TestStoreHang(t *testing.T) {
	inj := New(nil)
	s := openStore(t, inj)
	inbox := prepare(t, s)
	watch, cancelWatch := s.Watch(acct)
	defer cancelWatch()
	if err := inj.Set(TargetStore, Hang); err != nil {
		t.Fatal(err)
	}
	for _, c := range storeCalls {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- c.call(ctx, s, inbox) }()
		for inj.Hung() != 1 {
			runtime.Gosched()
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("hung %s after cancel = %v, want context.Canceled", c.name, err)
		}
	}
	// Watch passes through: a change made once the hang clears reaches it.
	inj.Clear()
	if _, err := s.Deliver(t.Context(), store.Delivery{Key: "after-hang", Account: acct, Message: newMessage()}); err != nil {
		t.Fatal(err)
	}
	<-watch
}
