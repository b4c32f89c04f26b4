package smtp

import (
	"context"
	"strings"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// sieveRejectTimeout bounds the question to Config.SieveReject: the
// directory read of a script not in the cache, and the run. Past it the
// message is accepted and the delivery decides.
const sieveRejectTimeout = 3 * time.Second

// sieveReject refuses, with 550 5.7.1 and the script's reason, a message
// whose one recipient's Sieve script rejects it (RFC 5429 section 2.1:
// a refusal in the SMTP session, where the sender's server reports it,
// is preferred to a DSN, which may go to a forged sender). Only a
// message with a single local recipient qualifies: after DATA, SMTP has
// one reply for all recipients (RFC 5321 section 4.1.1.4), and a refusal
// for one would refuse the message to the others. Anything else, and
// every doubt, accepts; the delivery then runs the script as usual and
// sends the DSN when it rejects.
func (s *session) sieveReject(msg []byte, now time.Time) error {
	f := s.srv.cfg.SieveReject
	if f == nil || len(s.local) != 1 || len(s.remote) != 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.srv.ctx, sieveRejectTimeout)
	defer cancel()
	reason, rejected := f(ctx, s.local[0], s.from, msg, now)
	if !rejected {
		return nil
	}
	return s.refuse("sieve_reject", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: rejectText(reason)},
		"rcpt", s.local[0].Address, "from", s.from)
}

// maxRejectText bounds the reason quoted in a reply, well within the
// 512 octets of a reply line (RFC 5321 section 4.5.3.1.5).
const maxRejectText = 200

// rejectText makes a script's reason a reply text: one line of printable
// US-ASCII (RFC 5321 section 4.2; RFC 5429 section 2.1.1 leaves the
// encoding of other reasons to the server) cut to maxRejectText, else a
// generic text, which also stands for an empty reason.
func rejectText(reason string) string {
	const generic = "Refused by the recipient's mail filter"
	t := strings.Join(strings.Fields(reason), " ")
	if t == "" {
		return generic
	}
	for i := 0; i < len(t); i++ {
		if t[i] < 0x20 || t[i] > 0x7e {
			return generic
		}
	}
	if len(t) > maxRejectText {
		t = t[:maxRejectText-3] + "..."
	}
	return t
}
