package cell

import (
	"context"
	"fmt"
	"log/slog"

	"casella/internal/delivery"
	"casella/internal/quota"
	"casella/internal/spool"
	"casella/internal/store"
)

// Deliverer is the handler of the intake spool: it delivers each
// recipient through a delivery.Deliverer over the stores of its account's
// cell. The spool batches recipients of one cell (as intake saw it), so a
// batch is normally one group; an account moved since is delivered where
// it is now.
type Deliverer struct {
	r   *Router
	log *slog.Logger

	// Quota and Reserved make quotas hard at delivery (see
	// delivery.Deliverer); nil Quota enforces none.
	Quota    func(ctx context.Context, acct store.Account) (int64, error)
	Reserved *quota.Tracker
	// Filters runs the recipients' Sieve scripts; nil runs none.
	Filters *delivery.Filters
	// Sender sends the mail the scripts ask for (delivery.Sender).
	Sender *delivery.Sender
}

// Deliverer returns the spool handler that delivers through the cells.
func (r *Router) Deliverer(log *slog.Logger) *Deliverer {
	return &Deliverer{r: r, log: log}
}

// Handle delivers recipient rcpt of e.
func (d *Deliverer) Handle(ctx context.Context, e *spool.Entry, data []byte, rcpt int) error {
	return d.HandleBatch(ctx, []spool.Task{{Entry: e, Data: data, Rcpt: rcpt}})
}

// HandleBatch delivers the tasks of each cell with one commit of that
// cell. Any failure fails the batch, which the spool retries task by
// task; the delivery keys store nothing twice.
func (d *Deliverer) HandleBatch(ctx context.Context, batch []spool.Task) error {
	if d.Sender != nil {
		var err error
		if batch, err = d.Sender.ForwardAliases(ctx, batch, d.log); err != nil {
			return err
		}
	}
	var order []*Cell
	groups := map[*Cell][]spool.Task{}
	for _, t := range batch {
		rs := t.Entry.Envelope.Recipients
		if t.Rcpt < 0 || t.Rcpt >= len(rs) || rs[t.Rcpt].Account == 0 {
			return fmt.Errorf("delivery: entry %s: recipient %d is not a local account; remote mail belongs in the outbound queue", t.Entry.ID, t.Rcpt)
		}
		c, err := d.r.Locate(ctx, store.Account(rs[t.Rcpt].Account))
		if err != nil {
			return fmt.Errorf("delivery: entry %s to %s: %w", t.Entry.ID, rs[t.Rcpt].Address, err)
		}
		if _, ok := groups[c]; !ok {
			order = append(order, c)
		}
		groups[c] = append(groups[c], t)
	}
	for _, c := range order {
		b := c.cur.Load()
		if b == nil {
			return c.Err()
		}
		dd := &delivery.Deliverer{Store: b.Store, Blobs: b.Blobs, Logger: d.log, Quota: d.Quota, Reserved: d.Reserved, Filters: d.Filters, Sender: d.Sender}
		if err := dd.HandleBatch(ctx, groups[c]); err != nil {
			return err
		}
	}
	return nil
}
