package delivery

import (
	"context"
	"time"

	"casella/internal/sieve"
	"casella/internal/spool"
	"casella/internal/store"
)

// RejectsAtIntake reports whether the Sieve scripts of rcpt's account,
// run on a message as the delivery will run them, do nothing but reject
// it, and with which reason: then SMTP can refuse the message at the end
// of DATA instead of accepting it and sending a DSN, as RFC 5429 section
// 2.1 prefers. msg is the message as intake spools it and now its
// receive time, which the delivery's run sees too.
//
// The answer is "reject" only when the run decides it without the
// mailbox store, which intake must not need (DESIGN.md): a run that asks
// whether a mailbox exists or whether a message was seen (duplicate),
// fails, or takes any other action — fileinto, redirect, notify,
// vacation, keep — is left to the delivery, which performs it exactly
// once. Scripts come from the cache the delivery uses (Filters.active):
// when the directory does not answer within ctx and no script was read
// before, there is no script and the message is accepted. Every doubt
// accepts; the delivery rejects with a DSN what it still rejects.
func (f *Filters) RejectsAtIntake(ctx context.Context, rcpt spool.Recipient, from string, msg []byte, now time.Time) (string, bool) {
	acct := store.Account(rcpt.Account)
	c := f.active(ctx, acct)
	if c.script == nil && c.vacation == nil && f.Global == nil {
		return "", false
	}
	undecided := false
	in := f.input(ctx, acct, from, rcpt.Address, Trace(from, rcpt.Address, msg), now)
	in.MailboxExists = func(string) bool {
		undecided = true
		return false
	}
	in.Seen = func(string) bool {
		undecided = true
		return false
	}
	res := f.run(c, in)
	if res.Err != nil || undecided {
		return "", false
	}
	reason, rejected := "", false
	for _, a := range res.Actions {
		switch a := a.(type) {
		case sieve.Reject:
			reason, rejected = a.Reason, true
		case sieve.AddHeader, sieve.DeleteHeader:
			// Edits of a message that is refused change nothing.
		default:
			return "", false
		}
	}
	return reason, rejected
}
