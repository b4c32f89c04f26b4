package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"mime"
	"mime/quotedprintable"
	"slices"
	"strings"
	"time"

	"casella/internal/directory"
	"casella/internal/message"
	"casella/internal/sieve"
	"casella/internal/spool"
	"casella/internal/store"
)

// vacation decides whether the reply a script asked for goes out and
// returns it, or nil. The script has applied the rules the message alone
// decides (package sieve, RFC 5230 section 4.5, RFC 3834 section 2); this
// applies the once-per-period rule (RFC 5230 section 4.2, RFC 6131):
// the first delivery to claim the record of the sender and the handle
// replies, and its replay, holding the same record, replies again as the
// same Mail, which Sender enqueues once. When the records
// cannot be written no reply goes out: a missing auto-reply is better
// than a flood of them.
func (d *Deliverer) vacation(ctx context.Context, t spool.Task, v sieve.Vacation) []byte {
	f, r := d.Filters, t.Entry.Envelope.Recipients[t.Rcpt]
	log := d.logger().With("id", t.Entry.ID, "rcpt", t.Rcpt, "account", r.Account)
	if f.Memory == nil || d.Sender == nil {
		log.Info("sieve vacation: no reply, this node keeps no vacation records or sends no mail")
		return nil
	}
	key, now := Key(t.Entry.ID, t.Rcpt), d.received(t)
	sum := sha256.Sum256([]byte(v.Handle + "\x00" + strings.ToLower(v.To)))
	ours, err := f.Memory.ClaimSieveRecord(ctx, store.Account(r.Account), kindVacation, hex.EncodeToString(sum[:16]), key, now, now.Add(v.Period), false)
	if err != nil {
		log.Warn("sieve vacation: no reply, the record of replies could not be written", "err", err)
		return nil
	}
	if !ours {
		log.Info("sieve vacation: already answered within the period", "to", v.To)
		return nil
	}
	if v.From != "" && !d.ownAddress(ctx, store.Account(r.Account), v.From) {
		log.Info("sieve vacation: :from is not one of the account's addresses; replying from the recipient", "from", v.From)
		v.From = ""
	}
	return vacationReply(v, r.Address, key, now)
}

// ownAddress reports whether the address in from (RFC 5322, a display
// name allowed) reaches the account: the reply may come from an alias of
// the user, not from anyone (RFC 5230 section 4.3).
func (d *Deliverer) ownAddress(ctx context.Context, acct store.Account, from string) bool {
	list := message.AddressList(from)
	if len(list) != 1 || list[0].Host == "" {
		return false
	}
	rs, err := d.Sender.Directory.Resolve(ctx, list[0].Local+"@"+list[0].Host)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(rs, func(r directory.Recipient) bool { return r.Account.ID == acct })
}

// vacationReply writes the reply message (RFC 5230 section 5, RFC 3834
// section 3). Everything in it derives from the delivery, so a replay
// writes the same bytes.
func vacationReply(v sieve.Vacation, rcpt, key string, now time.Time) []byte {
	var b bytes.Buffer
	from := v.From
	if from == "" {
		from = rcpt
	}
	_, domain, _ := strings.Cut(rcpt, "@")
	id := sha256.Sum256([]byte("vacation\x00" + key))
	field := func(name, value string) {
		if value != "" {
			b.WriteString(name + ": " + oneLine(value) + "\r\n")
		}
	}
	field("From", from)
	field("To", v.To)
	field("Subject", mime.QEncoding.Encode("utf-8", v.Subject))
	field("Date", now.Format(time.RFC1123Z))
	field("Message-ID", "<vacation."+hex.EncodeToString(id[:12])+"@"+domain+">")
	field("In-Reply-To", v.InReplyTo)
	field("References", v.References)
	// RFC 3834 section 5: marks the reply so that other responders do
	// not answer it.
	field("Auto-Submitted", "auto-replied (vacation)")
	field("MIME-Version", "1.0")
	if v.MIME {
		// RFC 5230 section 4.4: the reason is a MIME entity, its header
		// and body.
		b.WriteString(crlf(v.Reason))
		return b.Bytes()
	}
	field("Content-Type", "text/plain; charset=utf-8")
	field("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	w := quotedprintable.NewWriter(&b)
	body := crlf(v.Reason)
	if !strings.HasSuffix(body, "\r\n") {
		body += "\r\n"
	}
	w.Write([]byte(body))
	w.Close()
	return b.Bytes()
}

// crlf turns bare line feeds into CRLF.
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}
