package smtp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/directory"
	"casella/internal/spool"
	"casella/internal/srs"
)

// maxReturnedHeaders bounds the original header returned in a DSN.
const maxReturnedHeaders = 64 << 10

// bounceTimeout bounds the directory lookup and enqueue of one DSN.
const bounceTimeout = time.Minute

// OnPermanent has the signature of spool.Options.OnPermanent: it loads the
// failed entry's message from Queue and sends the sender a DSN. An error
// leaves the recipient unfinished, to be tried again.
func (r *Relay) OnPermanent(e *spool.Entry, rcpt int, cause error) error {
	return r.notifyQueued(e, rcpt, cause, false)
}

// OnDelay has the signature of spool.Options.OnDelay: it tells the sender
// that a recipient has not taken the message yet and will be retried
// (RFC 3464 Action: delayed).
func (r *Relay) OnDelay(e *spool.Entry, rcpt int, cause error) error {
	return r.notifyQueued(e, rcpt, cause, true)
}

func (r *Relay) notifyQueued(e *spool.Entry, rcpt int, cause error, delayed bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), bounceTimeout)
	defer cancel()
	var data []byte
	if r.Queue != nil {
		_, d, err := r.Queue.Get(ctx, e.ID)
		if err != nil {
			return fmt.Errorf("DSN for %s: reading message: %w", e.ID, err)
		}
		data = d
	}
	return r.notify(ctx, e, data, rcpt, cause, delayed)
}

// SendBounce builds the delivery status notification (RFC 3464) for e's
// recipient rcpt, which failed with cause, and enqueues it to the sender's
// mailbox through Bounce. Mail with a null reverse path and mail from a
// sender who is not local gets none: a bounce is never bounced (RFC 5321
// section 4.5.5), and only local mailboxes can receive it. data, if not
// nil, is the failed message, whose header is returned.
func (r *Relay) SendBounce(ctx context.Context, e *spool.Entry, data []byte, rcpt int, cause error) error {
	return r.notify(ctx, e, data, rcpt, cause, false)
}

// notify sends a failure DSN or, when delayed, a delay notice.
func (r *Relay) notify(ctx context.Context, e *spool.Entry, data []byte, rcpt int, cause error, delayed bool) error {
	from := e.Envelope.From
	if from == "" || rcpt < 0 || rcpt >= len(e.Envelope.Recipients) {
		return nil
	}
	if r.SRS != nil && srs.IsSRS(from) {
		orig, err := r.SRS.Reverse(from)
		if err != nil {
			r.logger().Info("relay: no DSN for an SRS sender that does not reverse", "id", e.ID, "from", from, "err", err)
			return nil
		}
		from = orig
	}
	// RFC 8689 section 5: a DSN, delay notice included, about a message
	// sent with REQUIRETLS carries its header, and so goes on with
	// REQUIRETLS too; it returns the header only, as RET=HDRS asks.
	requireTLS := e.Envelope.RequireTLS
	rs, err := r.Directory.Resolve(ctx, from)
	switch {
	case errors.Is(err, directory.ErrNotLocal) && from != e.Envelope.From && r.Forward != nil:
		// A forwarded message's DSN goes on to its original sender.
		msg := r.dsn(e, data, rcpt, cause, time.Now(), delayed)
		env := spool.Envelope{Recipients: []spool.Recipient{{Address: from}}, Received: time.Now(), RequireTLS: requireTLS}
		id, err := r.Forward.Enqueue(ctx, env, msg)
		if err != nil {
			return fmt.Errorf("bounce %s: enqueueing DSN for %s: %w", e.ID, from, err)
		}
		r.logger().Info("relay: DSN of a forwarded message queued for its original sender", "id", e.ID, "dsn", id, "to", from)
		return nil
	case errors.Is(err, directory.ErrNotLocal), errors.Is(err, directory.ErrNoSuchUser), errors.Is(err, directory.ErrInvalid):
		r.logger().Info("relay: no DSN for a sender without a local mailbox", "id", e.ID, "from", from)
		return nil
	case err != nil:
		return fmt.Errorf("bounce %s: resolving sender: %w", e.ID, err)
	}
	now := time.Now()
	msg := r.dsn(e, data, rcpt, cause, now, delayed)
	env := spool.Envelope{Received: now, RequireTLS: requireTLS}
	for _, x := range rs {
		env.Recipients = append(env.Recipients, spool.Recipient{Address: from, Account: int64(x.Account.ID), Tag: x.Tag, Cell: x.Account.Cell})
	}
	id, err := r.Bounce.Enqueue(ctx, env, msg)
	if err != nil {
		return fmt.Errorf("bounce %s: enqueueing DSN: %w", e.ID, err)
	}
	r.logger().Info("relay: DSN queued", "id", e.ID, "dsn", id, "to", from)
	return nil
}

// FailureDSN renders the failure DSN (RFC 3464) that hostname writes
// for recipient rcpt of e, refused for good with cause, returning the
// header of data: what the relay sends when it gives a message up, and
// what a Sieve reject sends after the message was accepted (RFC 5429
// section 2.1.2).
func FailureDSN(hostname string, e *spool.Entry, data []byte, rcpt int, cause error, now time.Time) []byte {
	return (&Relay{Hostname: hostname}).dsn(e, data, rcpt, cause, now, false)
}

// dsn renders the multipart/report message (RFC 3464 section 2, RFC 6522)
// of a failure or, when delayed, of a delay.
func (r *Relay) dsn(e *spool.Entry, data []byte, rcpt int, cause error, now time.Time, delayed bool) []byte {
	host := token(r.Hostname, false)
	rcptAddr := e.Envelope.Recipients[rcpt].Address
	utf8 := !isASCII(rcptAddr) || !isASCII(e.Envelope.From)
	class := 5
	subject, action, kind := "Undelivered Mail Returned to Sender", "failed", "dsn"
	if delayed {
		class, subject, action, kind = 4, "Delayed Mail (still being retried)", "delayed", "delay"
	}
	status, diag := fmt.Sprintf("%d.0.0", class), ""
	// RFC 3463 section 3.5: a message returned because it was retried for
	// too long is X.4.7, "delivery time expired", a persistent transient
	// status, whatever the last attempt's reply was.
	expired := !delayed && errors.Is(cause, spool.ErrExpired)
	if expired {
		status = "4.4.7"
	}
	var se *gosmtp.SMTPError
	if errors.As(cause, &se) {
		if se.EnhancedCode[0] == class && !expired {
			status = fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
		}
		diag = fmt.Sprintf("smtp; %d %s", se.Code, oneLine(se.Message))
	}
	reason := "the message could not be delivered"
	if cause != nil {
		reason = oneLine(cause.Error())
	}
	rnd := make([]byte, 12)
	rand.Read(rnd)
	boundary := "casella-dsn-" + hex.EncodeToString(rnd)

	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	w("From: Mail Delivery System <MAILER-DAEMON@%s>", host)
	w("To: <%s>", token(e.Envelope.From, utf8))
	w("Subject: %s", subject)
	w("Date: %s", now.Format(time.RFC1123Z))
	w("Message-ID: <%s-%s-%d@%s>", kind, token(e.ID, false), rcpt, host)
	// RFC 3834 section 5: automatic replies must not be answered.
	w("Auto-Submitted: auto-replied")
	w("MIME-Version: 1.0")
	w("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"", boundary)
	w("")
	w("This is a MIME-encapsulated delivery status notification.")
	w("")
	w("--%s", boundary)
	w("Content-Type: text/plain; charset=utf-8")
	w("Content-Transfer-Encoding: 8bit")
	w("")
	w("This is the mail system at %s.", host)
	w("")
	if delayed {
		w("Your message to <%s> has not been delivered yet:", token(rcptAddr, true))
		w("%s", reason)
		w("")
		w("The mail system keeps trying until %s;", r.retryUntil(e).Format(time.RFC1123Z))
		w("you will hear again only if it gives up.")
	} else {
		w("Your message to <%s> could not be delivered:", token(rcptAddr, true))
		w("%s", reason)
	}
	w("")
	w("--%s", boundary)
	// RFC 6533 section 6: UTF-8 addresses need the global form.
	if utf8 {
		w("Content-Type: message/global-delivery-status")
	} else {
		w("Content-Type: message/delivery-status")
	}
	w("")
	w("Reporting-MTA: dns; %s", host)
	w("Arrival-Date: %s", e.Envelope.Received.Format(time.RFC1123Z))
	w("")
	if utf8 {
		w("Final-Recipient: utf-8; %s", token(rcptAddr, true))
	} else {
		w("Final-Recipient: rfc822; %s", token(rcptAddr, false))
	}
	w("Action: %s", action)
	w("Status: %s", status)
	if diag != "" {
		w("Diagnostic-Code: %s", diag)
	}
	w("Last-Attempt-Date: %s", now.Format(time.RFC1123Z))
	if delayed {
		w("Will-Retry-Until: %s", r.retryUntil(e).Format(time.RFC1123Z))
	}
	w("")
	if data != nil {
		w("--%s", boundary)
		w("Content-Type: text/rfc822-headers")
		w("")
		b.Write(headerOf(data))
		w("")
	}
	w("--%s--", boundary)
	return b.Bytes()
}

// retryUntil is when the queue gives e up.
func (r *Relay) retryUntil(e *spool.Entry) time.Time {
	return e.Envelope.Received.Add(r.Lifetime)
}

// headerOf returns data's header section without the CRLF that ends its
// last line, cut at a line end to at most maxReturnedHeaders octets. A
// header line cannot end the MIME part early: the boundary carries random
// octets no sender can guess.
func headerOf(data []byte) []byte {
	h := data
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		h = data[:i]
	}
	if len(h) > maxReturnedHeaders {
		h = h[:maxReturnedHeaders]
		if i := bytes.LastIndex(h, []byte("\r\n")); i >= 0 {
			h = h[:i]
		}
	}
	return bytes.TrimSuffix(h, []byte("\r\n"))
}

// oneLine makes a remote's reply text fit one header or text line:
// control characters become spaces, and it is cut to 500 octets.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 500 {
		s = s[:500]
	}
	return strings.ToValidUTF8(s, "?")
}
