package cell

import (
	"context"
	"errors"
	"sync"
	"time"

	"casella/internal/blob"
	"casella/internal/store"
)

// The Router is a store.Store: each call goes to the store of its
// account's cell. Calls that name no account (PruneDeliveries,
// BlobReferenced, Blobs) go to every open cell.
var _ store.Store = (*Router)(nil)

// lookupTimeout bounds the directory lookup of Watch, which has no
// context of its own.
const lookupTimeout = 10 * time.Second

func (r *Router) EnsureAccount(ctx context.Context, acct store.Account) error {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return err
	}
	return st.EnsureAccount(ctx, acct)
}

func (r *Router) DeleteAccount(ctx context.Context, acct store.Account) error {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return err
	}
	return st.DeleteAccount(ctx, acct)
}

func (r *Router) Usage(ctx context.Context, acct store.Account) (store.Usage, error) {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return store.Usage{}, err
	}
	return st.Usage(ctx, acct)
}

func (r *Router) Mailboxes(ctx context.Context, acct store.Account) ([]store.Mailbox, error) {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return nil, err
	}
	return st.Mailboxes(ctx, acct)
}

func (r *Router) Mailbox(ctx context.Context, acct store.Account, name string) (store.Mailbox, error) {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return store.Mailbox{}, err
	}
	return st.Mailbox(ctx, acct, name)
}

func (r *Router) CreateMailbox(ctx context.Context, acct store.Account, name, specialUse string) (store.Mailbox, error) {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return store.Mailbox{}, err
	}
	return st.CreateMailbox(ctx, acct, name, specialUse)
}

func (r *Router) RenameMailbox(ctx context.Context, acct store.Account, from, to string) error {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return err
	}
	return st.RenameMailbox(ctx, acct, from, to)
}

func (r *Router) DeleteMailbox(ctx context.Context, acct store.Account, name string) error {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return err
	}
	return st.DeleteMailbox(ctx, acct, name)
}

func (r *Router) Subscribe(ctx context.Context, acct store.Account, name string, on bool) error {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return err
	}
	return st.Subscribe(ctx, acct, name, on)
}

func (r *Router) Deliver(ctx context.Context, d store.Delivery) (store.Delivered, error) {
	st, err := r.storeOf(ctx, d.Account)
	if err != nil {
		return store.Delivered{}, err
	}
	return st.Deliver(ctx, d)
}

// DeliverBatch stores the deliveries of each cell in one transaction of
// that cell. A batch over several cells is atomic per cell only; the
// delivery keys make a retry after a partial failure store nothing twice.
func (r *Router) DeliverBatch(ctx context.Context, ds []store.Delivery) ([]store.Delivered, error) {
	type group struct {
		st  store.Store
		idx []int
	}
	var groups []*group
	byStore := map[store.Store]*group{}
	for i, d := range ds {
		st, err := r.storeOf(ctx, d.Account)
		if err != nil {
			return nil, err
		}
		g := byStore[st]
		if g == nil {
			g = &group{st: st}
			byStore[st] = g
			groups = append(groups, g)
		}
		g.idx = append(g.idx, i)
	}
	if len(groups) == 1 {
		return groups[0].st.DeliverBatch(ctx, ds)
	}
	out := make([]store.Delivered, len(ds))
	for _, g := range groups {
		part := make([]store.Delivery, len(g.idx))
		for j, i := range g.idx {
			part[j] = ds[i]
		}
		res, err := g.st.DeliverBatch(ctx, part)
		if err != nil {
			return nil, err
		}
		for j, i := range g.idx {
			out[i] = res[j]
		}
	}
	return out, nil
}

// PruneDeliveries prunes every open cell; a cell that is down keeps its
// keys until a later call.
func (r *Router) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	var errs []error
	for _, c := range r.Cells() {
		b := c.cur.Load()
		if b == nil {
			errs = append(errs, c.Err())
			continue
		}
		m, err := b.Store.PruneDeliveries(ctx, before)
		n += m
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}

func (r *Router) Append(ctx context.Context, acct store.Account, mailbox int64, msgs []store.NewMessage) ([]uint32, error) {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return nil, err
	}
	return st.Append(ctx, acct, mailbox, msgs)
}

func (r *Router) UIDs(ctx context.Context, acct store.Account, mailbox int64) ([]uint32, error) {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return nil, err
	}
	return st.UIDs(ctx, acct, mailbox)
}

func (r *Router) Messages(ctx context.Context, acct store.Account, q store.Query, fn func(*store.Message) error) error {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return err
	}
	return st.Messages(ctx, acct, q, fn)
}

func (r *Router) MessagesWithBlob(ctx context.Context, acct store.Account, key blob.Key) ([]store.Message, error) {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return nil, err
	}
	return st.MessagesWithBlob(ctx, acct, key)
}

func (r *Router) UpdateFlags(ctx context.Context, acct store.Account, u store.FlagUpdate) (store.FlagResult, error) {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return store.FlagResult{}, err
	}
	return st.UpdateFlags(ctx, acct, u)
}

func (r *Router) Expunge(ctx context.Context, acct store.Account, mailbox int64, uids []store.UIDRange) ([]uint32, error) {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return nil, err
	}
	return st.Expunge(ctx, acct, mailbox, uids)
}

func (r *Router) Copy(ctx context.Context, acct store.Account, from int64, uids []store.UIDRange, to int64) ([]store.UIDPair, error) {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return nil, err
	}
	return st.Copy(ctx, acct, from, uids, to)
}

func (r *Router) Move(ctx context.Context, acct store.Account, from int64, uids []store.UIDRange, to int64) ([]store.UIDPair, error) {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return nil, err
	}
	return st.Move(ctx, acct, from, uids, to)
}

func (r *Router) Changes(ctx context.Context, acct store.Account, mailbox int64, since uint64, limit int) ([]store.Change, uint64, error) {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return nil, 0, err
	}
	return st.Changes(ctx, acct, mailbox, since, limit)
}

// Watch watches the account in its cell's store. While the cell is down
// the channel waits for it to open, then fires once (changes may have
// been made meanwhile through other nodes) and follows the store. An
// account whose cell cannot be found gets a channel that never fires:
// its session's commands say why.
func (r *Router) Watch(acct store.Account) (<-chan struct{}, func()) {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	c, err := r.Locate(ctx, acct)
	cancel()
	if err != nil {
		return make(chan struct{}), func() {}
	}
	if b := c.cur.Load(); b != nil {
		return b.Store.Watch(acct)
	}
	out := make(chan struct{}, 1)
	done := make(chan struct{})
	poke := func() {
		select {
		case out <- struct{}{}:
		default:
		}
	}
	go func() {
		select {
		case <-c.ready:
		case <-done:
			return
		}
		ch, stop := c.cur.Load().Store.Watch(acct)
		defer stop()
		poke()
		for {
			select {
			case <-ch:
				poke()
			case <-done:
				return
			}
		}
	}()
	return out, sync.OnceFunc(func() { close(done) })
}

// BlobReferenced reports whether a message of any open cell refers to the
// blob; it fails when a cell is down, since that cell might.
func (r *Router) BlobReferenced(ctx context.Context, key blob.Key) (bool, error) {
	for _, c := range r.Cells() {
		b := c.cur.Load()
		if b == nil {
			return false, c.Err()
		}
		ok, err := b.Store.BlobReferenced(ctx, key)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// Blobs calls fn for the blob keys of every cell; a key two cells refer
// to comes once from each. It fails when a cell is down.
func (r *Router) Blobs(ctx context.Context, fn func(blob.Key) error) error {
	for _, c := range r.Cells() {
		b := c.cur.Load()
		if b == nil {
			return c.Err()
		}
		if err := b.Store.Blobs(ctx, fn); err != nil {
			return err
		}
	}
	return nil
}

func (r *Router) Subscriptions(ctx context.Context, acct store.Account) ([]string, error) {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return nil, err
	}
	return st.Subscriptions(ctx, acct)
}

func (r *Router) Keywords(ctx context.Context, acct store.Account, mailbox int64) ([]string, error) {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return nil, err
	}
	return st.Keywords(ctx, acct, mailbox)
}

func (r *Router) Metadata(ctx context.Context, acct store.Account, mailbox int64) ([]store.MetadataEntry, error) {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return nil, err
	}
	return st.Metadata(ctx, acct, mailbox)
}

func (r *Router) SetMetadata(ctx context.Context, acct store.Account, mailbox int64, entries []store.MetadataEntry) error {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return err
	}
	return st.SetMetadata(ctx, acct, mailbox, entries)
}

func (r *Router) AppendRecent(ctx context.Context, acct store.Account, mailbox int64, msgs []store.NewMessage) ([]uint32, bool, error) {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return nil, false, err
	}
	return st.AppendRecent(ctx, acct, mailbox, msgs)
}

func (r *Router) ClaimRecent(ctx context.Context, acct store.Account, mailbox int64, upTo uint32) (uint32, error) {
	st, err := r.storeOf(ctx, acct)
	if err != nil {
		return 0, err
	}
	return st.ClaimRecent(ctx, acct, mailbox, upTo)
}
