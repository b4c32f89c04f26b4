// Package mailauth checks who sent a message arriving from the Internet:
// SPF for the envelope sender (RFC 7208), DKIM signatures (RFC 6376, RFC
// 8463), DMARC (RFC 7489), which ties both to the author's domain in
// From and says what its owner wants done when neither holds, and the ARC
// chain (RFC 8617), which says what intermediaries found before they
// changed the message. The outcome is one Authentication-Results field
// (RFC 8601) and a verdict.
//
// Libraries do the protocols: blitiri's spf, go-msgauth's dkim, dmarc and
// authres, and internal/arc. This package decides alignment and policy,
// which they leave to the caller.
package mailauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/mail"
	"strconv"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"casella/internal/arc"
	"casella/internal/resolver"
)

// Action is what DMARC asks of a message.
type Action int

const (
	Deliver    Action = iota // pass, no policy, or p=none
	Quarantine               // file to Junk
	Reject                   // refuse with 550 at end of DATA
	// Defer: refuse with 451 at end of DATA. The message would be
	// rejected, but a check that could have saved it (an aligned SPF or
	// DKIM, a trusted sealer's ARC chain) met a temporary DNS failure:
	// our resolver's fault is not the sender's (DESIGN.md invariant 2).
	Defer
)

func (a Action) String() string {
	return [...]string{"deliver", "quarantine", "reject", "defer"}[a]
}

// Verdict is the outcome of the checks.
type Verdict struct {
	// Header is the Authentication-Results field to prepend, with CRLF.
	Header string
	// Action is what the author domain's DMARC policy asks, applied only
	// to a real failure: a temporary DNS error that leaves the outcome
	// unsure gives Defer instead of Reject.
	Action Action
	// Reason says why, for logs and the 550 or 451 text.
	Reason string
}

// Checker runs the checks. Its zero value is not usable: it needs a
// Resolver and the Hostname it reports as.
type Checker struct {
	Resolver *resolver.Resolver
	// Hostname is this server's name, the authserv-id of the
	// Authentication-Results fields it writes (RFC 8601 section 2.5).
	Hostname string
	// TrustedSealers are the ARC sealer domains whose word is taken when
	// DMARC fails: a message whose chain passes and was last sealed by
	// one of them is delivered whatever the policy (RFC 7489 section
	// 7.2, local policy override; RFC 8617 section 7.2). A mailing list
	// or forwarder the operator knows breaks DKIM and SPF honestly.
	TrustedSealers []string
}

// Check checks a message received from ip, which said helo and gave
// mailFrom as reverse path.
func (c *Checker) Check(ctx context.Context, ip net.IP, helo, mailFrom string, msg []byte) Verdict {
	var results []authres.Result
	spfResult, spfDomain := c.spf(ctx, ip, helo, mailFrom)
	results = append(results, spfResult)

	lookup := func(name string) ([]string, error) {
		return resolver.Net{R: c.Resolver}.LookupTXT(ctx, name)
	}
	var dkimPass, dkimTemp []string // domains of the signatures that verified, that met a DNS failure
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: 8})
	switch {
	case errors.Is(err, dkim.ErrTooManySignatures):
		// The first MaxVerifications are verified; the rest are a cost an
		// attacker chose, not evidence.
	case err != nil:
		results = append(results, &authres.DKIMResult{Value: authres.ResultPermError, Reason: "unreadable message"})
	case len(verifs) == 0:
		results = append(results, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, v := range verifs {
		r := &authres.DKIMResult{Value: authres.ResultPass, Domain: v.Domain, Identifier: v.Identifier}
		switch {
		case v.Err == nil:
			dkimPass = append(dkimPass, strings.ToLower(v.Domain))
		case dkim.IsTempFail(v.Err):
			r.Value, r.Reason = authres.ResultTempError, v.Err.Error()
			dkimTemp = append(dkimTemp, strings.ToLower(v.Domain))
		case dkim.IsPermFail(v.Err):
			r.Value, r.Reason = authres.ResultPermError, v.Err.Error()
		default:
			r.Value, r.Reason = authres.ResultFail, v.Err.Error()
		}
		results = append(results, r)
	}

	chain := arc.Verify(msg, arc.LookupTXT(lookup))
	ar := &authres.GenericResult{Method: "arc", Value: authres.ResultValue(chain.Result), Params: map[string]string{
		"reason":         chain.Reason,
		"smtp.remote-ip": ip.String(),
	}}
	if chain.OldestPass > 0 {
		ar.Params["header.oldest-pass"] = strconv.Itoa(chain.OldestPass)
	}
	results = append(results, ar)

	dr, action, reason := c.dmarc(msg, lookup, spfResult.Value, spfDomain, dkimPass, dkimTemp)
	switch {
	case action > Deliver && chain.Result == arc.Pass && c.trusted(chain.Sealer):
		dr.Reason += fmt.Sprintf("; local policy override: arc=pass, sealed by trusted %s", chain.Sealer)
		action = Deliver
		reason = fmt.Sprintf("DMARC failed, delivered: ARC chain sealed by trusted %s passes (RFC 7489 section 7.2)", chain.Sealer)
	case action == Reject && chain.Result == arc.TempError && c.trusted(chain.Sealer):
		// The chain that would decide could not be verified now.
		action = Defer
		reason = fmt.Sprintf("DMARC failed and the ARC chain claiming trusted sealer %s could not be verified for a temporary DNS failure; try again later (RFC 8617 section 7.2)", chain.Sealer)
	}
	results = append(results, dr)
	return Verdict{
		Header: "Authentication-Results: " + authres.Format(c.Hostname, results) + "\r\n",
		Action: action,
		Reason: reason,
	}
}

// trusted reports whether domain is one of TrustedSealers.
func (c *Checker) trusted(domain string) bool {
	for _, d := range c.TrustedSealers {
		if strings.EqualFold(strings.TrimSuffix(d, "."), domain) {
			return true
		}
	}
	return false
}

// spf evaluates the reverse path, or the HELO name for the null reverse
// path (RFC 7208 section 2.4), and returns the result with the domain it
// checked.
func (c *Checker) spf(ctx context.Context, ip net.IP, helo, mailFrom string) (*authres.SPFResult, string) {
	domain := strings.ToLower(helo)
	if at := strings.LastIndexByte(mailFrom, '@'); at >= 0 {
		domain = strings.ToLower(mailFrom[at+1:])
	}
	res, err := spf.CheckHostWithSender(ip, helo, mailFrom,
		spf.WithContext(ctx), spf.WithResolver(resolver.Net{R: c.Resolver}))
	r := &authres.SPFResult{Value: authres.ResultValue(res), From: mailFrom, Helo: helo}
	if mailFrom == "" {
		r.From = "postmaster@" + helo
	}
	if err != nil && res != spf.Pass {
		r.Reason = err.Error()
	}
	return r, domain
}

// dmarc evaluates the author domain's policy (RFC 7489 section 6.6).
// dkimTemp are the domains of the signatures whose key lookup met a
// temporary DNS failure.
func (c *Checker) dmarc(msg []byte, lookup func(string) ([]string, error), spfValue authres.ResultValue, spfDomain string, dkimPass, dkimTemp []string) (*authres.DMARCResult, Action, string) {
	from, err := authorDomain(msg)
	if err != nil {
		// Section 6.6.1: without exactly one author domain there is
		// nothing to evaluate; the message is not rejected for it here.
		return &authres.DMARCResult{Value: authres.ResultPermError, Reason: err.Error()}, Deliver, ""
	}
	r := &authres.DMARCResult{From: from}
	org := orgDomain(from)
	rec, err := dmarc.LookupWithOptions(from, &dmarc.LookupOptions{LookupTXT: lookup})
	subdomain := false
	if errors.Is(err, dmarc.ErrNoPolicy) && org != from {
		rec, err = dmarc.LookupWithOptions(org, &dmarc.LookupOptions{LookupTXT: lookup})
		subdomain = true
	}
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		r.Value = authres.ResultNone
		return r, Deliver, ""
	case dmarc.IsTempFail(err):
		r.Value, r.Reason = authres.ResultTempError, err.Error()
		return r, Deliver, ""
	case err != nil:
		r.Value, r.Reason = authres.ResultPermError, err.Error()
		return r, Deliver, ""
	}

	aligned := func(domain string, mode dmarc.AlignmentMode) bool {
		if mode == dmarc.AlignmentStrict {
			return domain == from
		}
		return orgDomain(domain) == org
	}
	if spfValue == authres.ResultPass && aligned(spfDomain, rec.SPFAlignment) {
		r.Value = authres.ResultPass
		return r, Deliver, ""
	}
	for _, d := range dkimPass {
		if aligned(d, rec.DKIMAlignment) {
			r.Value = authres.ResultPass
			return r, Deliver, ""
		}
	}
	r.Value = authres.ResultFail
	policy := rec.Policy
	if subdomain && rec.SubdomainPolicy != "" {
		policy = rec.SubdomainPolicy
	}
	action := Deliver
	switch policy {
	case dmarc.PolicyReject:
		action = Reject
	case dmarc.PolicyQuarantine:
		action = Quarantine
	}
	// Section 6.6.4: a message outside the pct sample gets the next
	// policy down.
	if rec.Percent != nil && *rec.Percent < 100 && rand.IntN(100) >= *rec.Percent && action > Deliver {
		action--
	}
	r.Reason = fmt.Sprintf("p=%s", policy)
	// Section 6.6.2 passes a message on one aligned identifier: one that
	// could not be checked for a DNS failure leaves the result unknown,
	// temperror, and a rejection waits for the sender's next try.
	// Quarantine loses nothing and stands.
	unsure := spfValue == authres.ResultTempError && aligned(spfDomain, rec.SPFAlignment)
	for _, d := range dkimTemp {
		unsure = unsure || aligned(d, rec.DKIMAlignment)
	}
	if unsure {
		r.Value = authres.ResultTempError
		r.Reason += "; an aligned SPF or DKIM check met a temporary DNS failure"
		if action == Reject {
			return r, Defer, fmt.Sprintf("DMARC policy of %s: an aligned SPF or DKIM check met a temporary DNS failure; try again later", from)
		}
	}
	return r, action, fmt.Sprintf("DMARC policy of %s: neither SPF nor DKIM passed aligned with the From domain", from)
}

// authorDomain returns the domain of the only address of the From field.
func authorDomain(msg []byte) (string, error) {
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		return "", fmt.Errorf("unreadable header: %w", err)
	}
	if n := len(m.Header["From"]); n != 1 {
		return "", fmt.Errorf("%d From fields", n)
	}
	list, err := m.Header.AddressList("From")
	if err != nil || len(list) != 1 {
		return "", errors.New("From holds no single address")
	}
	at := strings.LastIndexByte(list[0].Address, '@')
	if at < 0 {
		return "", errors.New("From address has no domain")
	}
	return strings.ToLower(list[0].Address[at+1:]), nil
}

// orgDomain returns the organizational domain (RFC 7489 section 3.2):
// the public suffix and one label more.
func orgDomain(domain string) string {
	org, err := publicsuffix.EffectiveTLDPlusOne(strings.TrimSuffix(domain, "."))
	if err != nil {
		return domain
	}
	return org
}
