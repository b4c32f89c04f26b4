package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"casella/internal/arc"
	"casella/internal/dkim"
	"casella/internal/mailauth"
	"casella/internal/message"
	"casella/internal/resolver"
	"casella/internal/srs"
)

// Forwarder prepares a message that one of our domains passes on to
// another domain (a Sieve redirect), so that the receiver does not take
// it for a forgery:
//   - the envelope sender is SRS-rewritten into the forwarding domain,
//     which SPF then authorizes (package srs), and a bounce to it comes
//     back to us and on to the original sender;
//   - the message is DKIM-signed by the forwarding domain (RFC 6376), and
//     then ARC-sealed by it (RFC 8617 section 5.1), the seal recording the
//     Authentication-Results we wrote at intake, so a receiver can see
//     that the author's SPF and DKIM passed before we touched it.
//
// A domain without keys forwards unsigned and unsealed; a chain that
// cannot take another set (cv=fail, too many sets) is sent unsealed.
type Forwarder struct {
	SRS *srs.Rewriter
	// Keys are the domains' DKIM keys; ARC seals with the newest RSA one.
	Keys *dkim.Keyring
	// Resolver fetches the keys of the chain the message arrived with,
	// which is verified again to say what we received (cv=).
	Resolver *resolver.Resolver
	// Hostname is the authserv-id of our Authentication-Results fields.
	Hostname string
	Logger   *slog.Logger
}

// Forward returns the envelope sender and the message to send when
// domain forwards msg, received from sender, to another domain.
func (f *Forwarder) Forward(ctx context.Context, sender, domain string, msg []byte) (string, []byte, error) {
	from, err := f.SRS.Forward(sender, domain)
	if err != nil {
		return "", nil, fmt.Errorf("forward: rewriting the sender: %w", err)
	}
	signed, err := f.Keys.Sign(domain, msg)
	if err != nil {
		return "", nil, fmt.Errorf("forward: %w", err)
	}
	key, ok, err := f.Keys.NewestRSA(domain)
	if err != nil {
		return "", nil, fmt.Errorf("forward: %w", err)
	}
	if !ok {
		return from, signed, nil
	}
	results, ok := mailauth.OwnResults(msg, f.Hostname)
	if !ok {
		// Mail that never went through our checks: from a local sender.
		results = f.Hostname + "; none"
	}
	lookup := func(name string) ([]string, error) {
		return resolver.Net{R: f.Resolver}.LookupTXT(ctx, name)
	}
	chain := arc.Verify(signed, lookup)
	sealer := &arc.Sealer{Domain: key.Domain, Selector: key.Selector, Key: key.Signer}
	sealed, err := sealer.Seal(signed, results, chain)
	if errors.Is(err, arc.ErrNotSealable) {
		f.Logger.Info("forward: the ARC chain cannot take our set; forwarding unsealed", "domain", domain, "chain", chain.Result, "reason", chain.Reason)
		return from, signed, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("forward: %w", err)
	}
	return from, sealed, nil
}

// maxHops is how many Received fields a message may carry and still be
// redirected: RFC 5321 section 6.3 suggests treating 100 as a loop; a
// message redirected that often is looping, whoever forwards it.
const maxHops = 50

// looping reports why a message delivered to rcpt must not be forwarded
// again, or "": it was already delivered here to rcpt (our Delivered-To
// field, package delivery's Trace, which a forwarded copy keeps), or it
// went through too many hops.
func looping(msg []byte, rcpt string) string {
	fields, _ := message.Header(msg)
	hops := 0
	for _, f := range fields {
		switch {
		case strings.EqualFold(f.Name, "Delivered-To") && strings.EqualFold(strings.TrimSpace(message.Unfold(f.Value)), rcpt):
			return "it was delivered to " + rcpt + " before (Delivered-To)"
		case strings.EqualFold(f.Name, "Received"):
			hops++
		}
	}
	if hops >= maxHops {
		return fmt.Sprintf("it has %d Received fields", hops)
	}
	return ""
}
