// Package delivery moves mail from the inbound spool into mailboxes: it is
// the spool.Handler of the intake spool. For each local recipient it adds
// the trace fields of final delivery, stores the bytes in the blob store,
// parses them once (package message), and delivers them to the mailbox
// store.
//
// Implementation notes:
//   - Exactly once: the store delivery key is the spool entry id and the
//     recipient index, so a replay after a crash (between the store's
//     commit and the spool's removal) stores nothing new. The delivered
//     bytes are a pure function of the entry, so a replay also puts the
//     same blob.
//   - Every failure is returned as a temporary error and the spool retries;
//     nothing here ever wraps spool.ErrPermanent (DESIGN.md invariant 2).
//   - Quota is a hard limit here (package quota): a message that would take
//     an account past its quota and grace is deferred (spool.ErrDeferred)
//     and waits in the spool until the owner makes room; refusing it now
//     would lose it. The bytes intake reserved are released once stored.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"casella/internal/blob"
	"casella/internal/message"
	"casella/internal/quota"
	"casella/internal/spool"
	"casella/internal/store"
)

// Deliverer delivers inbound spool entries to local mailboxes. It
// implements spool.Handler.
type Deliverer struct {
	Store  store.Store
	Blobs  blob.Store
	Logger *slog.Logger     // nil: slog.Default()
	Now    func() time.Time // nil: time.Now; used when an entry has no receive time
	// Quota returns an account's quota in bytes (0: none); nil enforces
	// no quota. A failing lookup delivers: the directory being down must
	// not stop mail, and the lookup failure is logged.
	Quota func(ctx context.Context, acct store.Account) (int64, error)
	// Reserved is intake's record of messages in flight; delivered ones
	// are released from it. Nil with Quota set means the default grace.
	Reserved *quota.Tracker
	// Filters, when set, runs each recipient's active Sieve script
	// (sieve.go) to choose the mailboxes and flags.
	Filters *Filters
	// Sender, when set, sends the mail that scripts ask for (redirect,
	// vacation, reject, notify) (send.go); without one, those actions
	// are logged and the message is kept.
	Sender *Sender
}

// Key returns the store delivery key of recipient rcpt of spool entry id.
func Key(id string, rcpt int) string { return id + "/" + strconv.Itoa(rcpt) }

// Handle delivers recipient rcpt of e. It fails for a remote recipient,
// which belongs in the outbound queue: the entry then stays in the spool,
// visible to the operator, instead of being lost.
func (d *Deliverer) Handle(ctx context.Context, e *spool.Entry, data []byte, rcpt int) error {
	return d.HandleBatch(ctx, []spool.Task{{Entry: e, Data: data, Rcpt: rcpt}})
}

// putConcurrency bounds the blob writes of one batch that run at once:
// each waits mostly for its fsyncs, which the disk can overlap.
const putConcurrency = 8

// HandleBatch delivers recipients, of one account or several, each
// account's in order, with their blobs written concurrently and one store
// commit for all.
func (d *Deliverer) HandleBatch(ctx context.Context, batch []spool.Task) error {
	ds := make([]store.Delivery, len(batch))
	for i, t := range batch {
		e := t.Entry
		if t.Rcpt < 0 || t.Rcpt >= len(e.Envelope.Recipients) {
			return fmt.Errorf("delivery: entry %s has no recipient %d", e.ID, t.Rcpt)
		}
		r := e.Envelope.Recipients[t.Rcpt]
		if r.Account == 0 {
			return fmt.Errorf("delivery: entry %s: recipient %q is not local; remote mail belongs in the outbound queue", e.ID, r.Address)
		}
		mailbox := r.Tag
		if r.Junk {
			mailbox = "Junk"
		}
		ds[i] = store.Delivery{Key: Key(e.ID, t.Rcpt), Account: store.Account(r.Account), Mailbox: mailbox}
	}
	if err := d.checkQuota(ctx, batch, ds); err != nil {
		return err
	}
	targets := make([][]target, len(batch))
	errs := make([]error, len(batch))
	sem := make(chan struct{}, putConcurrency)
	var wg sync.WaitGroup
	for i, t := range batch {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			var raw []byte
			raw, errs[i] = d.prepare(ctx, t, &ds[i].Message)
			if errs[i] == nil && d.Filters != nil {
				// Scripts run here, beside the blob writes, not one
				// after another before the commit.
				targets[i], errs[i] = d.filter(ctx, t, raw, ds[i].Mailbox)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// With Sieve, a task becomes as many deliveries as the script files
	// it into, none when it discards it (sieve.go).
	all, from := ds, make([]int, len(ds))
	for i := range from {
		from[i] = i
	}
	if d.Filters != nil {
		all, from = nil, nil
		for i := range batch {
			for _, tg := range targets[i] {
				dl := ds[i]
				dl.Key, dl.Mailbox, dl.Message.Flags = tg.key, tg.mailbox, tg.flags
				all, from = append(all, dl), append(from, i)
			}
		}
	}
	var res []store.Delivered
	if len(all) > 0 {
		var err error
		if res, err = d.Store.DeliverBatch(ctx, all); err != nil {
			return fmt.Errorf("delivery: %d messages from entry %s on: %w", len(all), batch[0].Entry.ID, err)
		}
	}
	if d.Reserved != nil {
		for i, t := range batch {
			d.Reserved.Release(ds[i].Account, int64(len(t.Data)))
		}
	}
	for i, dl := range all {
		t := batch[from[i]]
		d.logger().Info("delivered", "id", t.Entry.ID, "rcpt", t.Rcpt, "account", dl.Account,
			"mailbox", res[i].Mailbox, "uid", res[i].UID, "duplicate", res[i].Duplicate, "size", dl.Message.Size)
	}
	return nil
}

// checkQuota defers the batch when a message would take its account past
// the quota's hard limit; the spool then retries each task alone, so the
// others go on. A message's size is what will be stored: the spooled
// bytes and the trace fields.
func (d *Deliverer) checkQuota(ctx context.Context, batch []spool.Task, ds []store.Delivery) error {
	if d.Quota == nil {
		return nil
	}
	tracker := d.Reserved
	if tracker == nil {
		tracker = quota.NewTracker(quota.DefaultGrace)
	}
	type room struct{ quota, used int64 }
	rooms := map[store.Account]*room{}
	for i, t := range batch {
		acct := ds[i].Account
		r := rooms[acct]
		if r == nil {
			q, err := d.Quota(ctx, acct)
			if err != nil {
				d.logger().Warn("delivery: quota lookup failed; delivering", "account", acct, "err", err)
			}
			r = &room{quota: q}
			if q > 0 {
				u, err := d.Store.Usage(ctx, acct)
				if err != nil {
					return fmt.Errorf("delivery: usage of account %d: %w", acct, err)
				}
				r.used = u.Bytes
			}
			rooms[acct] = r
		}
		e := t.Entry
		size := int64(len(Trace(e.Envelope.From, e.Envelope.Recipients[t.Rcpt].Address, nil)) + len(t.Data))
		if !tracker.Fits(r.quota, r.used, size) {
			d.logger().Info("delivery: over quota, message waits in the spool", "id", t.Entry.ID, "account", acct,
				"quota", r.quota, "usage", r.used, "size", size)
			return fmt.Errorf("delivery: entry %s: account %d over quota (%d of %d bytes used, message %d): %w",
				t.Entry.ID, acct, r.used, r.quota, size, spool.ErrDeferred)
		}
		r.used += size
	}
	return nil
}

// prepare adds the trace fields to a task's message, stores its bytes in
// the blob store and parses them into m. It returns the bytes stored.
func (d *Deliverer) prepare(ctx context.Context, t spool.Task, m *store.NewMessage) ([]byte, error) {
	e, r := t.Entry, t.Entry.Envelope.Recipients[t.Rcpt]
	raw := Trace(e.Envelope.From, r.Address, t.Data)
	key, err := d.Blobs.Put(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("delivery: entry %s to %s: store message: %w", e.ID, r.Address, err)
	}
	internal := e.Envelope.Received
	if internal.IsZero() {
		internal = d.now()
	}
	*m = store.NewMessage{Blob: key, Size: int64(len(raw)), Internal: internal, Meta: message.Parse(raw)}
	return raw, nil
}

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deliverer) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}
