package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/url"
	"strings"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/message"
	"casella/internal/sieve"
	"casella/internal/smtp"
	"casella/internal/spool"
	"casella/internal/store"
)

// The Sieve actions that send mail: redirect, reject and notify. Each
// goes through Sender.Send under a key of its own, so a replayed delivery
// sends nothing twice; each is skipped, with the reason logged, when
// sending would be wrong, and a skipped redirect keeps the message.

// sendAction performs a redirect or a reject and reports whether it did;
// edits are the script's header edits taken before the action.
func (d *Deliverer) sendAction(ctx context.Context, t spool.Task, a sieve.Action, edits []sieve.Action, log *slog.Logger) (bool, error) {
	if r, ok := a.(sieve.Redirect); ok {
		return d.redirect(ctx, t, r, edits, log)
	}
	return d.reject(ctx, t, a.(sieve.Reject), log)
}

// redirect performs a redirect (RFC 5228 section 4.2; :copy, RFC 3894,
// is the interpreter's: it keeps the implicit keep). It reports whether
// the message was sent on; when not, the caller keeps it.
//
// The message sent is the one the script has edited so far: the
// addheader and deleteheader actions taken before the redirect apply to
// it, those after do not. RFC 5293 section 7 has the tests and actions
// that follow an edit see the header as edited, and the example of its
// section 4 adds a field before a redirect so that the copy is known
// when it comes back, which works only if the copy carries the field;
// Pigeonhole's test suite expects the same. Loop detection reads the
// message as received, so that no edit can hide our Delivered-To, and
// reject's notice quotes it as received (section 7 again: reports use
// the original message).
func (d *Deliverer) redirect(ctx context.Context, t spool.Task, a sieve.Redirect, edits []sieve.Action, log *slog.Logger) (bool, error) {
	r := t.Entry.Envelope.Recipients[t.Rcpt]
	if d.Sender == nil {
		log.Warn("sieve redirect: no sender configured; the message is kept", "to", a.Address)
		return false, nil
	}
	to := strings.ToLower(a.Address)
	if strings.EqualFold(to, r.Address) {
		log.Info("sieve redirect to the recipient itself; the message is kept", "to", a.Address)
		return false, nil
	}
	// Loop detection (RFC 5228 section 4.2 asks for it): the copy we send
	// carries Delivered-To naming this recipient, so it is known again
	// when it comes back, through whichever forwarders.
	if why := looping(t.Data, r.Address); why != "" {
		d.Sender.refused("loop")
		log.Warn("sieve redirect not performed: the message is looping; it is kept", "to", a.Address, "why", why)
		return false, nil
	}
	data := t.Data
	if len(edits) > 0 {
		data = editHeader(data, edits)
	}
	sent, err := d.Sender.Send(ctx, t, Mail{
		Action:  "redirect/" + to,
		From:    t.Entry.Envelope.From,
		To:      []string{a.Address},
		Data:    Delivered(r.Address, data),
		Forward: true,
		Domain:  domainOf(r.Address),
		Account: store.Account(r.Account),
	})
	if errors.Is(err, ErrSendLimit) {
		d.Sender.refused("send_limit")
		log.Warn("sieve redirect not performed: over the sending limit; the message is kept", "to", a.Address, "err", err)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if len(sent.Unknown) > 0 {
		d.Sender.refused("unknown_recipient")
		log.Warn("sieve redirect to a local address nobody receives; the message is kept", "to", a.Address)
		return false, nil
	}
	log.Info("sieve redirect", "to", a.Address, "queued", sent.IDs, "replay", sent.Duplicate)
	return true, nil
}

// Delivered returns data with a Delivered-To field naming rcpt first, as
// a copy forwarded from rcpt's delivery carries it (see Trace).
func Delivered(rcpt string, data []byte) []byte {
	b := make([]byte, 0, len("Delivered-To: \r\n")+len(rcpt)+len(data))
	b = append(b, "Delivered-To: "...)
	b = appendClean(b, rcpt)
	b = append(b, "\r\n"...)
	return append(b, data...)
}

// reject performs reject and ereject (RFC 5429) after the message was
// accepted: the envelope sender gets a DSN (RFC 3464), the one
// notification RFC 5429 section 2.1.2 allows for both, saying the
// recipient's filter refused it. A message with the null sender is
// dropped without one (section 2.1.2: never to a null reverse path). It
// reports whether the rejection was performed; when not, the caller keeps
// the message.
func (d *Deliverer) reject(ctx context.Context, t spool.Task, a sieve.Reject, log *slog.Logger) (bool, error) {
	e := t.Entry
	if d.Sender == nil {
		log.Warn("sieve reject: no sender configured; the message is kept")
		return false, nil
	}
	if e.Envelope.From == "" {
		d.Sender.refused("null_sender")
		log.Info("sieve reject of a message with the null sender: discarded without a notice", "reason", a.Reason)
		return true, nil
	}
	cause := &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1},
		Message: "Refused by the recipient's mail filter: " + strings.Join(strings.Fields(a.Reason), " ")}
	dsn := smtp.FailureDSN(d.Sender.Hostname, e, t.Data, t.Rcpt, cause, d.now())
	sent, err := d.Sender.Send(ctx, t, Mail{Action: "reject", From: "", To: []string{e.Envelope.From}, Data: dsn, Report: true})
	if err != nil {
		return false, err
	}
	log.Info("sieve reject: DSN sent", "to", e.Envelope.From, "queued", sent.IDs, "replay", sent.Duplicate)
	return true, nil
}

// maxNotifyRecipients bounds the addresses of one mailto notification.
const maxNotifyRecipients = 5

// notify sends a mailto notification (RFC 5436). None is sent for a
// message that is itself automatic (section 2.7, to stop loops between
// notifiers), and a failure to notify never holds the message back.
func (d *Deliverer) notify(ctx context.Context, t spool.Task, a sieve.Notify, log *slog.Logger) error {
	r := t.Entry.Envelope.Recipients[t.Rcpt]
	if d.Sender == nil {
		log.Info("sieve notify: no sender configured", "method", a.Method)
		return nil
	}
	fields, _ := message.Header(t.Data)
	subject := ""
	for _, f := range fields {
		v := strings.TrimSpace(message.Unfold(f.Value))
		switch {
		case strings.EqualFold(f.Name, "Auto-Submitted") && !strings.EqualFold(v, "no"):
			d.Sender.refused("automatic")
			log.Info("sieve notify: not for an automatic message (RFC 5436 section 2.7)", "auto-submitted", v)
			return nil
		case strings.EqualFold(f.Name, "Subject") && subject == "":
			subject = message.DecodeText(f.Value)
		}
	}
	n, err := mailtoNotice(a, r.Address, subject, d.Sender.Hostname, d.now())
	if err != nil {
		log.Warn("sieve notify: not sent", "method", a.Method, "err", err)
		return nil
	}
	sent, err := d.Sender.Send(ctx, t, Mail{Action: "notify/" + a.Method, To: n.to, Data: n.data, Account: store.Account(r.Account)})
	if errors.Is(err, ErrSendLimit) {
		d.Sender.refused("send_limit")
		log.Warn("sieve notify: over the sending limit; not sent", "method", a.Method)
		return nil
	}
	if err != nil {
		return err
	}
	log.Info("sieve notify", "to", n.to, "queued", sent.IDs, "replay", sent.Duplicate)
	return nil
}

type notice struct {
	to   []string
	data []byte
}

// mailtoNotice renders the notification message of RFC 5436 section 2:
// to the URI's addresses, with its subject and body when it has them,
// else the :message, else one made of the notifying message's subject;
// From is :from or the recipient (section 2.3); Auto-Submitted:
// auto-notified (section 2.7).
func mailtoNotice(a sieve.Notify, rcpt, subject, hostname string, now time.Time) (notice, error) {
	u, err := url.Parse(a.Method)
	if err != nil || !strings.EqualFold(u.Scheme, "mailto") {
		return notice{}, fmt.Errorf("%q is not a mailto URI", a.Method)
	}
	addrs, err := url.PathUnescape(u.Opaque)
	if err != nil {
		return notice{}, fmt.Errorf("mailto URI %q: %w", a.Method, err)
	}
	var to []string
	for _, s := range strings.Split(addrs, ",") {
		if s = strings.TrimSpace(s); s != "" {
			to = append(to, s)
		}
	}
	q := u.Query()
	for _, s := range q["to"] {
		to = append(to, strings.Split(s, ",")...)
	}
	if len(to) == 0 || len(to) > maxNotifyRecipients {
		return notice{}, fmt.Errorf("mailto URI %q has %d recipients, want 1 to %d", a.Method, len(to), maxNotifyRecipients)
	}
	for _, s := range to {
		if _, _, ok := strings.Cut(s, "@"); !ok || strings.ContainsAny(s, "\r\n<> ") {
			return notice{}, fmt.Errorf("mailto URI %q: %q is not an address", a.Method, s)
		}
	}
	subj := q.Get("subject")
	if subj == "" {
		subj = a.Message
	}
	if subj == "" {
		subj = "New mail: " + subject
	}
	body := q.Get("body")
	if body == "" {
		body = a.Message
	}
	if body == "" {
		body = "New mail for " + rcpt + ": " + subject
	}
	from := a.From
	if from == "" {
		from = rcpt
	}
	rnd := make([]byte, 12)
	rand.Read(rnd)
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	w("From: <%s>", oneLine(from))
	w("To: %s", "<"+strings.Join(to, ">, <")+">")
	w("Subject: %s", mime.QEncoding.Encode("utf-8", oneLine(subj)))
	w("Date: %s", now.Format(time.RFC1123Z))
	w("Message-ID: <notify-%s@%s>", hex.EncodeToString(rnd), hostname)
	w("Auto-Submitted: auto-notified")
	if a.Importance == "1" {
		w("Importance: high")
	} else if a.Importance == "3" {
		w("Importance: low")
	}
	w("MIME-Version: 1.0")
	w("Content-Type: text/plain; charset=utf-8")
	w("Content-Transfer-Encoding: 8bit")
	w("")
	w("%s", strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n"))
	return notice{to: to, data: b.Bytes()}, nil
}

// oneLine makes s fit a header field: line breaks and control
// characters become spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func domainOf(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}
