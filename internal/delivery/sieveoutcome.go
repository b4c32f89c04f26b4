package delivery

import (
	"context"
	"fmt"
	"time"

	"casella/internal/message"
	"casella/internal/sieve"
	"casella/internal/spool"
	"casella/internal/store"
)

// outcome is what a script decided for one task, beyond where the
// message is filed: what HandleBatch does before the store's commit
// (header edits, the vacation record, the failure notice) and after it
// (the duplicate records, the reply).
type outcome struct {
	targets  []target
	edits    []sieve.Action // AddHeader and DeleteHeader, in the script's order
	vacation *sieve.Vacation
	tracks   []sieve.TrackDuplicate
	failure  *failure

	reply []byte           // the vacation reply to send, once the record is ours
	extra []store.Delivery // deliveries besides the message: the failure notice
}

func (o *outcome) add(a sieve.Action) {
	switch a := a.(type) {
	case sieve.AddHeader, sieve.DeleteHeader:
		o.edits = append(o.edits, a)
	case sieve.Vacation:
		o.vacation = &a
	case sieve.TrackDuplicate:
		o.tracks = append(o.tracks, a)
	}
}

// received is the time a task's decisions are made at: the spool's
// receive time, so that a replay makes the same records and the same
// reply.
func (d *Deliverer) received(t spool.Task) time.Time {
	if now := t.Entry.Envelope.Received; !now.IsZero() {
		return now
	}
	return d.now()
}

// before does what must be settled before the store's commit: the stored
// copy with the script's header edits (RFC 5293), the vacation record and
// its reply, and the failure notice. dl is the task's delivery; its
// message becomes the edited one.
func (d *Deliverer) before(ctx context.Context, t spool.Task, raw []byte, dl *store.Delivery, o *outcome) error {
	if len(o.edits) > 0 {
		edited := editHeader(raw, o.edits)
		k, err := d.Blobs.Put(ctx, edited)
		if err != nil {
			return fmt.Errorf("delivery: entry %s: store the edited message: %w", t.Entry.ID, err)
		}
		dl.Message.Blob, dl.Message.Size, dl.Message.Meta = k, int64(len(edited)), message.Parse(edited)
	}
	if o.vacation != nil {
		o.reply = d.vacation(ctx, t, *o.vacation)
	}
	if o.failure != nil {
		n, err := d.failureNotice(ctx, t, o.failure)
		if err != nil {
			return err
		}
		if n != nil {
			o.extra = append(o.extra, *n)
		}
	}
	return nil
}

// after does what follows the store's commit: the duplicate records (RFC
// 7352 section 3: an id counts once its message was delivered) and the
// vacation reply. A failure here fails the task; its replay stores
// nothing twice and sends the reply under the same key.
func (d *Deliverer) after(ctx context.Context, t spool.Task, o *outcome) error {
	r := t.Entry.Envelope.Recipients[t.Rcpt]
	key, now := Key(t.Entry.ID, t.Rcpt), d.received(t)
	for _, tr := range o.tracks {
		if d.Filters.Memory == nil {
			break
		}
		// refresh: a tracked id seen again under :last moves its expiry
		// (RFC 7352 section 3.2); a new one is ours.
		if _, err := d.Filters.Memory.ClaimSieveRecord(ctx, store.Account(r.Account), kindDuplicate, tr.Key, key, now, now.Add(tr.Period), true); err != nil {
			d.logger().Warn("sieve duplicate: recording the id failed; a later copy will not be recognised", "id", t.Entry.ID, "account", r.Account, "err", err)
		}
	}
	if o.reply != nil {
		// RFC 3834 section 3.3: from the null sender. Not counted against
		// the sending limit: the record allows one per sender and period,
		// and a refusal would hold the delivery back.
		sent, err := d.Sender.Send(ctx, t, Mail{Action: "vacation", To: []string{o.vacation.To}, Data: o.reply})
		if err != nil {
			return fmt.Errorf("delivery: entry %s: send the vacation reply: %w", t.Entry.ID, err)
		}
		d.logger().Info("sieve vacation reply", "id", t.Entry.ID, "rcpt", t.Rcpt, "to", o.vacation.To, "queued", sent.IDs, "replay", sent.Duplicate)
	}
	return nil
}
