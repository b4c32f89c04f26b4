package sieve

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"casella/internal/message"
)

// Bounds of the vacation period (RFC 5230 section 4.1, RFC 6131 section 2).
const (
	defaultVacationDays = 7
	maxVacationPeriod   = 90 * 24 * time.Hour
)

// vacation decides whether the message deserves an auto-reply and takes
// the vacation action if so. The once-per-period rule needs state and is
// left to the delivery (Vacation.Handle, Vacation.Period).
func (r *run) vacation(n *node) {
	if r.rejected() {
		r.fail(n, "vacation cannot follow reject")
		return
	}
	if slices.ContainsFunc(r.actions, func(a Action) bool { _, ok := a.(Vacation); return ok }) {
		r.fail(n, "vacation taken twice")
		return
	}
	period := defaultVacationDays * 24 * time.Hour
	if a, ok := n.tags["days"]; ok {
		period = time.Duration(max(a.num, 1)) * 24 * time.Hour
	}
	if a, ok := n.tags["seconds"]; ok {
		period = time.Duration(a.num) * time.Second
	}
	period = min(period, maxVacationPeriod)

	var own []string
	own = append(own, r.in.Addresses...)
	if r.in.Envelope.To != "" {
		own = append(own, r.in.Envelope.To)
	}
	if a, ok := n.tags["addresses"]; ok {
		own = append(own, r.expandList(a.strs)...)
	}
	if !r.shouldReply(own) {
		return
	}
	reason := r.expand(n.args[0].strs[0])
	v := Vacation{
		To:         r.in.Envelope.From,
		Reason:     reason,
		MIME:       n.has("mime"),
		Period:     period,
		InReplyTo:  r.headerValue("message-id"),
		References: strings.TrimSpace(r.headerValue("references") + " " + r.headerValue("message-id")),
	}
	if a, ok := n.tags["from"]; ok {
		v.From = r.expand(a.strs[0])
	}
	if a, ok := n.tags["subject"]; ok {
		v.Subject = r.expand(a.strs[0])
	} else {
		// RFC 5230 section 4.3: "Auto:" and the original subject.
		v.Subject = "Auto: " + r.headerValue("subject")
	}
	if a, ok := n.tags["handle"]; ok {
		v.Handle = r.expand(a.strs[0])
	} else {
		// RFC 5230 section 4.2: without :handle, the same vacation is
		// recognised by its arguments.
		h := sha256.New()
		for _, s := range []string{reason, v.Subject, v.From, strings.Join(own, ","), map[bool]string{true: "mime"}[v.MIME]} {
			h.Write([]byte(s + "\x00"))
		}
		v.Handle = hex.EncodeToString(h.Sum(nil)[:16])
	}
	r.addAction(n, v)
}

// shouldReply applies the rules that the message decides (RFC 5230
// section 4.5 and 5, RFC 3834 section 2): a real sender that is not a
// list, a robot or oneself, mail not auto-submitted nor bulk, and one of
// the recipient's addresses among the message's recipients.
func (r *run) shouldReply(own []string) bool {
	from := strings.ToLower(r.in.Envelope.From)
	if from == "" {
		return false
	}
	local, _, _ := strings.Cut(from, "@")
	if strings.HasPrefix(local, "owner-") || strings.HasSuffix(local, "-request") || strings.HasSuffix(local, "-owner") ||
		slices.Contains([]string{"mailer-daemon", "listserv", "majordomo", "postmaster", "noreply", "no-reply"}, local) {
		return false
	}
	if slices.ContainsFunc(own, func(a string) bool { return strings.EqualFold(a, from) }) {
		return false
	}
	if v := strings.ToLower(r.headerValue("auto-submitted")); v != "" && v != "no" {
		return false
	}
	if v := strings.ToLower(r.headerValue("precedence")); v == "bulk" || v == "list" || v == "junk" {
		return false
	}
	for _, f := range r.header {
		if strings.HasPrefix(f.Name, "list-") || f.Name == "x-auto-response-suppress" {
			return false
		}
	}
	for _, name := range []string{"to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"} {
		for _, f := range r.header {
			if f.Name != name {
				continue
			}
			for _, a := range message.AddressList(f.Value) {
				addr := a.Local + "@" + a.Host
				if slices.ContainsFunc(own, func(o string) bool { return strings.EqualFold(o, addr) }) {
					return true
				}
			}
		}
	}
	return false
}
