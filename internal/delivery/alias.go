package delivery

import (
	"context"
	"fmt"
	"log/slog"

	"casella/internal/spool"
)

// ForwardAliases sends on the tasks of batch whose recipient is an
// alias's outside target (spool.Recipient.Forward) and returns the others,
// which go to mailboxes. The copy is forwarded as a Sieve redirect is:
// SRS-rewritten, DKIM-signed and ARC-sealed by the alias's domain
// (Forwarder), under a key that makes a replay after a crash send nothing
// twice (Send). A message that already passed through the alias
// (Delivered-To) is looping and is dropped, counted as a "loop" refusal:
// forwarding it again would send it round for ever (RFC 5321 section 6.3).
func (s *Sender) ForwardAliases(ctx context.Context, batch []spool.Task, log *slog.Logger) ([]spool.Task, error) {
	var rest []spool.Task
	for _, t := range batch {
		if t.Rcpt < 0 || t.Rcpt >= len(t.Entry.Envelope.Recipients) || t.Entry.Envelope.Recipients[t.Rcpt].Forward == "" {
			rest = append(rest, t)
			continue
		}
		r := t.Entry.Envelope.Recipients[t.Rcpt]
		if why := looping(t.Data, r.Address); why != "" {
			s.refused("loop")
			log.Warn("alias forward not performed: the message is looping; it is dropped", "id", t.Entry.ID, "alias", r.Address, "to", r.Forward, "why", why)
			continue
		}
		sent, err := s.Send(ctx, t, Mail{
			Action:  "alias/" + r.Forward,
			From:    t.Entry.Envelope.From,
			To:      []string{r.Forward},
			Data:    Delivered(r.Address, t.Data),
			Forward: true,
			Domain:  domainOf(r.Address),
		})
		if err != nil {
			return nil, fmt.Errorf("delivery: forwarding for alias %s: %w", r.Address, err)
		}
		log.Info("alias forward", "id", t.Entry.ID, "alias", r.Address, "to", r.Forward, "queued", sent.IDs, "replay", sent.Duplicate)
	}
	return rest, nil
}
