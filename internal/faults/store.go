package faults

import (
	"context"
	"fmt"
	"time"

	"casella/internal/blob"
	"casella/internal/store"
)

// Store returns a store.Store that passes every call to inner unless inj
// holds a fault for TargetStore. Watch and Close always pass through.
func Store(inner store.Store, inj *Injector) store.Store {
	return &mailStore{inner: inner, inj: inj}
}

type mailStore struct {
	inner store.Store
	inj   *Injector
}

func (s *mailStore) check(ctx context.Context, o op, call string) error {
	if err := s.inj.check(ctx, TargetStore, o); err != nil {
		return fmt.Errorf("%s: %w", call, err)
	}
	return nil
}

func (s *mailStore) EnsureAccount(ctx context.Context, acct store.Account) error {
	if err := s.check(ctx, write, "ensure account"); err != nil {
		return err
	}
	return s.inner.EnsureAccount(ctx, acct)
}

func (s *mailStore) DeleteAccount(ctx context.Context, acct store.Account) error {
	if err := s.check(ctx, write, "delete account"); err != nil {
		return err
	}
	return s.inner.DeleteAccount(ctx, acct)
}

func (s *mailStore) Usage(ctx context.Context, acct store.Account) (store.Usage, error) {
	if err := s.check(ctx, read, "usage"); err != nil {
		return store.Usage{}, err
	}
	return s.inner.Usage(ctx, acct)
}

func (s *mailStore) Mailboxes(ctx context.Context, acct store.Account) ([]store.Mailbox, error) {
	if err := s.check(ctx, read, "list mailboxes"); err != nil {
		return nil, err
	}
	return s.inner.Mailboxes(ctx, acct)
}

func (s *mailStore) Mailbox(ctx context.Context, acct store.Account, name string) (store.Mailbox, error) {
	if err := s.check(ctx, read, "get mailbox"); err != nil {
		return store.Mailbox{}, err
	}
	return s.inner.Mailbox(ctx, acct, name)
}

func (s *mailStore) CreateMailbox(ctx context.Context, acct store.Account, name, specialUse string) (store.Mailbox, error) {
	if err := s.check(ctx, write, "create mailbox"); err != nil {
		return store.Mailbox{}, err
	}
	return s.inner.CreateMailbox(ctx, acct, name, specialUse)
}

func (s *mailStore) RenameMailbox(ctx context.Context, acct store.Account, from, to string) error {
	if err := s.check(ctx, write, "rename mailbox"); err != nil {
		return err
	}
	return s.inner.RenameMailbox(ctx, acct, from, to)
}

func (s *mailStore) DeleteMailbox(ctx context.Context, acct store.Account, name string) error {
	if err := s.check(ctx, write, "delete mailbox"); err != nil {
		return err
	}
	return s.inner.DeleteMailbox(ctx, acct, name)
}

func (s *mailStore) Subscribe(ctx context.Context, acct store.Account, name string, on bool) error {
	if err := s.check(ctx, write, "subscribe"); err != nil {
		return err
	}
	return s.inner.Subscribe(ctx, acct, name, on)
}

func (s *mailStore) Keywords(ctx context.Context, acct store.Account, mailbox int64) ([]string, error) {
	if err := s.check(ctx, read, "list keywords"); err != nil {
		return nil, err
	}
	return s.inner.Keywords(ctx, acct, mailbox)
}

func (s *mailStore) Metadata(ctx context.Context, acct store.Account, mailbox int64) ([]store.MetadataEntry, error) {
	if err := s.check(ctx, read, "read annotations"); err != nil {
		return nil, err
	}
	return s.inner.Metadata(ctx, acct, mailbox)
}

func (s *mailStore) SetMetadata(ctx context.Context, acct store.Account, mailbox int64, entries []store.MetadataEntry) error {
	if err := s.check(ctx, write, "set annotations"); err != nil {
		return err
	}
	return s.inner.SetMetadata(ctx, acct, mailbox, entries)
}

func (s *mailStore) ClaimRecent(ctx context.Context, acct store.Account, mailbox int64, upTo uint32) (uint32, error) {
	if err := s.check(ctx, write, "claim recent"); err != nil {
		return 0, err
	}
	return s.inner.ClaimRecent(ctx, acct, mailbox, upTo)
}

func (s *mailStore) Subscriptions(ctx context.Context, acct store.Account) ([]string, error) {
	if err := s.check(ctx, read, "list subscriptions"); err != nil {
		return nil, err
	}
	return s.inner.Subscriptions(ctx, acct)
}

func (s *mailStore) Deliver(ctx context.Context, d store.Delivery) (store.Delivered, error) {
	if err := s.check(ctx, write, "deliver"); err != nil {
		return store.Delivered{}, err
	}
	return s.inner.Deliver(ctx, d)
}

func (s *mailStore) DeliverBatch(ctx context.Context, ds []store.Delivery) ([]store.Delivered, error) {
	if err := s.check(ctx, write, "deliver"); err != nil {
		return nil, err
	}
	return s.inner.DeliverBatch(ctx, ds)
}

func (s *mailStore) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	if err := s.check(ctx, write, "prune deliveries"); err != nil {
		return 0, err
	}
	return s.inner.PruneDeliveries(ctx, before)
}

func (s *mailStore) Append(ctx context.Context, acct store.Account, mailbox int64, msgs []store.NewMessage) ([]uint32, error) {
	if err := s.check(ctx, write, "append"); err != nil {
		return nil, err
	}
	return s.inner.Append(ctx, acct, mailbox, msgs)
}

func (s *mailStore) AppendRecent(ctx context.Context, acct store.Account, mailbox int64, msgs []store.NewMessage) ([]uint32, bool, error) {
	if err := s.check(ctx, write, "append"); err != nil {
		return nil, false, err
	}
	return s.inner.AppendRecent(ctx, acct, mailbox, msgs)
}

func (s *mailStore) UIDs(ctx context.Context, acct store.Account, mailbox int64) ([]uint32, error) {
	if err := s.check(ctx, read, "list UIDs"); err != nil {
		return nil, err
	}
	return s.inner.UIDs(ctx, acct, mailbox)
}

func (s *mailStore) Messages(ctx context.Context, acct store.Account, q store.Query, fn func(*store.Message) error) error {
	if err := s.check(ctx, read, "list messages"); err != nil {
		return err
	}
	return s.inner.Messages(ctx, acct, q, fn)
}

func (s *mailStore) UpdateFlags(ctx context.Context, acct store.Account, u store.FlagUpdate) (store.FlagResult, error) {
	if err := s.check(ctx, write, "update flags"); err != nil {
		return store.FlagResult{}, err
	}
	return s.inner.UpdateFlags(ctx, acct, u)
}

func (s *mailStore) Expunge(ctx context.Context, acct store.Account, mailbox int64, uids []store.UIDRange) ([]uint32, error) {
	if err := s.check(ctx, write, "expunge"); err != nil {
		return nil, err
	}
	return s.inner.Expunge(ctx, acct, mailbox, uids)
}

func (s *mailStore) Copy(ctx context.Context, acct store.Account, from int64, uids []store.UIDRange, to int64) ([]store.UIDPair, error) {
	if err := s.check(ctx, write, "copy"); err != nil {
		return nil, err
	}
	return s.inner.Copy(ctx, acct, from, uids, to)
}

func (s *mailStore) Move(ctx context.Context, acct store.Account, from int64, uids []store.UIDRange, to int64) ([]store.UIDPair, error) {
	if err := s.check(ctx, write, "move"); err != nil {
		return nil, err
	}
	return s.inner.Move(ctx, acct, from, uids, to)
}

func (s *mailStore) Changes(ctx context.Context, acct store.Account, mailbox int64, since uint64, limit int) ([]store.Change, uint64, error) {
	if err := s.check(ctx, read, "changes"); err != nil {
		return nil, 0, err
	}
	return s.inner.Changes(ctx, acct, mailbox, since, limit)
}

func (s *mailStore) Watch(acct store.Account) (<-chan struct{}, func()) {
	return s.inner.Watch(acct)
}

func (s *mailStore) BlobReferenced(ctx context.Context, key blob.Key) (bool, error) {
	if err := s.check(ctx, read, "check blob references"); err != nil {
		return false, err
	}
	return s.inner.BlobReferenced(ctx, key)
}

func (s *mailStore) Blobs(ctx context.Context, fn func(blob.Key) error) error {
	if err := s.check(ctx, read, "list blobs"); err != nil {
		return err
	}
	return s.inner.Blobs(ctx, fn)
}

func (s *mailStore) MessagesWithBlob(ctx context.Context, acct store.Account, key blob.Key) ([]store.Message, error) {
	if err := s.check(ctx, read, "messages with blob"); err != nil {
		return nil, err
	}
	return s.inner.MessagesWithBlob(ctx, acct, key)
}

func (s *mailStore) Close() error {
	return s.inner.Close()
}
