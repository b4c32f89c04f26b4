package jmap

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/directory"
	"casella/internal/spool"
	"casella/internal/store"
)

// The deliveryStatus of an EmailSubmission (RFC 8621 section 7) follows
// the queue entries that carry the message: their loops tell each
// recipient's outcome (spool.Options.OnStatus, which the server wires to
// DeliveryStatus), and it is written into the submission's record, which
// raises the account's submission state and wakes its push streams.
// A recipient is queued until its server took the message (yes) or
// refused it for good (no); displayed is never known.

// statusQueued is the smtpReply of a recipient no attempt was made for.
const statusQueued = "250 2.0.0 Queued"

// statusTimeout bounds the write of one status.
const statusTimeout = 30 * time.Second

// earlyStatuses holds the outcomes that arrive for a submission whose
// record is not stored yet: its entries are queued first, and a local
// recipient may be delivered before the record is added.
type earlyStatuses struct {
	mu sync.Mutex
	m  map[string]map[string]directory.DeliveryStatus // submission id -> address -> status
}

// begin marks a submission whose record is coming.
func (es *earlyStatuses) begin(id string) {
	es.mu.Lock()
	defer es.mu.Unlock()
	if es.m == nil {
		es.m = map[string]map[string]directory.DeliveryStatus{}
	}
	es.m[id] = map[string]directory.DeliveryStatus{}
}

// hold keeps st for a submission between begin and end, and reports
// whether it did.
func (es *earlyStatuses) hold(id, rcpt string, st directory.DeliveryStatus) bool {
	es.mu.Lock()
	defer es.mu.Unlock()
	m, ok := es.m[id]
	if ok {
		m[rcpt] = st
	}
	return ok
}

// end calls apply with the statuses held for a submission, and forgets
// it. The lock is held throughout, so that a later outcome, which waits
// for it in hold, is written after these.
func (es *earlyStatuses) end(id string, apply func(map[string]directory.DeliveryStatus)) {
	es.mu.Lock()
	defer es.mu.Unlock()
	if m := es.m[id]; len(m) > 0 && apply != nil {
		apply(m)
	}
	delete(es.m, id)
}

// DeliveryStatus has the signature of spool.Options.OnStatus: it records
// the outcome of an attempt for a recipient of an entry that an
// EmailSubmission queued, err nil and the receiving server's reply when
// it took the message. Entries of no submission are ignored. The write
// happens in the background; a failure to record, or a directory too far
// behind to take it, is logged: the status is a report, and the delivery
// it reports has happened.
func (s *Server) DeliveryStatus(e *spool.Entry, rcpt int, reply string, err error) {
	ref := e.Envelope.Submission
	sub := s.Submission
	if ref == nil || sub == nil || sub.Records == nil || rcpt < 0 || rcpt >= len(e.Envelope.Recipients) {
		return
	}
	addr := e.Envelope.Recipients[rcpt].Address
	st := deliveryStatusOf(reply, err)
	if s.early.hold(ref.ID, addr, st) {
		return
	}
	w := statusWrite{store.Account(ref.Account), ref.ID, map[string]directory.DeliveryStatus{addr: st}}
	select {
	case s.statusWrites() <- w:
	default:
		s.logger().Warn("jmap: a delivery status is not recorded: the directory is behind", "account", w.acct, "submission", w.id, "rcpt", addr)
	}
}

// statusWrite is a status on its way to a submission's record.
type statusWrite struct {
	acct store.Account
	id   string
	m    map[string]directory.DeliveryStatus
}

// maxStatusWrites bounds the statuses waiting for the directory.
const maxStatusWrites = 1024

// statusWrites returns the queue of the goroutine that writes statuses,
// in the order they came, until Shutdown. The queue's loops hand them
// over and go on: a slow or stopped directory must not hold a delivery.
func (s *Server) statusWrites() chan<- statusWrite {
	s.statusOnce.Do(func() {
		s.statuses = make(chan statusWrite, maxStatusWrites)
		done := s.doneChan()
		go func() {
			for {
				select {
				case w := <-s.statuses:
					s.setDeliveryStatus(w.acct, w.id, w.m)
				case <-done:
					return
				}
			}
		}()
	})
	return s.statuses
}

// setDeliveryStatus writes statuses of a submission and wakes the
// account's push streams.
func (s *Server) setDeliveryStatus(acct store.Account, id string, m map[string]directory.DeliveryStatus) {
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	for addr, st := range m {
		err := s.Submission.Records.SetDeliveryStatus(ctx, acct, id, addr, st)
		switch {
		case errors.Is(err, directory.ErrNotFound):
			// Destroyed by its sender, or expired: nobody asks anymore.
			s.logger().Debug("jmap: delivery status of a submission that is gone", "account", acct, "submission", id)
			return
		case err != nil:
			s.logger().Warn("jmap: recording a delivery status", "account", acct, "submission", id, "rcpt", addr, "err", err)
		}
	}
	s.subWatch.Wake(acct)
}

// deliveryStatusOf turns the outcome of an attempt into a status: taken
// is yes, with the server's reply or, from our own mailboxes, ours; a
// permanent failure is no; anything else leaves the recipient queued.
// The reply is the server's when there was one (RFC 8621 section 7:
// the RCPT TO reply, or the DATA one), ours otherwise.
func deliveryStatusOf(reply string, err error) directory.DeliveryStatus {
	switch {
	case err == nil && reply == "":
		return directory.DeliveryStatus{Delivered: directory.DeliveredYes, SMTPReply: "250 2.0.0 Delivered"}
	case err == nil:
		return directory.DeliveryStatus{Delivered: directory.DeliveredYes, SMTPReply: oneReplyLine(reply)}
	case errors.Is(err, spool.ErrPermanent):
		return directory.DeliveryStatus{Delivered: directory.DeliveredNo, SMTPReply: replyOf(err, "550 5.0.0")}
	default:
		return directory.DeliveryStatus{Delivered: directory.DeliveredQueued, SMTPReply: replyOf(err, "451 4.0.0")}
	}
}

// maxReplyLen bounds a reply kept in a record.
const maxReplyLen = 512

// replyOf renders the SMTP reply inside err, or, when no server replied
// (it could not be reached, say), our reply with prefix and the error.
func replyOf(err error, prefix string) string {
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) {
		return oneReplyLine(prefix + " " + err.Error())
	}
	if c := se.EnhancedCode; c != gosmtp.NoEnhancedCode && c != (gosmtp.EnhancedCode{}) {
		return oneReplyLine(fmt.Sprintf("%d %d.%d.%d %s", se.Code, c[0], c[1], c[2], se.Message))
	}
	return oneReplyLine(fmt.Sprintf("%d %s", se.Code, se.Message))
}

// oneReplyLine makes a reply one line of printable text: a multiline
// reply's lines joined, control characters dropped, the length bounded.
func oneReplyLine(s string) string {
	s = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)), " ")
	if len(s) > maxReplyLen {
		s = strings.ToValidUTF8(s[:maxReplyLen], "")
	}
	return s
}
