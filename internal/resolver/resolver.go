// Package resolver looks up what outbound mail needs from DNS: MX records
// (RFC 5321 section 5.1), the addresses of a host, and whether a validating
// resolver vouched for an answer (the AD bit, RFC 4035 section 3.2.3),
// which DANE (RFC 7672) depends on.
//
// It speaks DNS itself with github.com/miekg/dns instead of using the Go
// resolver because the standard library neither exposes the AD bit nor
// tells a name that does not exist from a server that did not answer, and
// a mail server must: the first is a permanent failure, the second a
// reason to try again later.
package resolver

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ErrNotFound means the name or the record type does not exist: an
// authoritative answer, not an outage.
var ErrNotFound = errors.New("no such DNS record")

// DefaultTimeout bounds one query to one server.
const DefaultTimeout = 5 * time.Second

// Resolver sends queries to recursive resolvers. The zero value reads
// /etc/resolv.conf at each lookup.
type Resolver struct {
	// Servers are host:port addresses of recursive resolvers, tried in
	// order; empty means those of /etc/resolv.conf.
	Servers []string
	// Timeout bounds one query to one server; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Result is an answer with its DNSSEC status.
type Result[T any] struct {
	Records T
	// Authentic is the AD bit: the resolver validated the answer with
	// DNSSEC. It means something only when the path to the resolver is
	// trusted (loopback or a private network), as RFC 7672 section 1.3
	// notes.
	Authentic bool
}

// MX is one mail exchanger.
type MX struct {
	Host       string // without the trailing dot
	Preference uint16
}

// MX returns the domain's mail exchangers in the order to try them:
// ascending preference, random among equal preferences (RFC 5321 section
// 5.1). A null MX (RFC 7505: one record, ".", preference 0) is returned as
// one MX with an empty Host. A domain with no MX records gives ErrNotFound;
// the caller then falls back to the domain's addresses.
func (r *Resolver) MX(ctx context.Context, domain string) (Result[[]MX], error) {
	msg, err := r.query(ctx, domain, dns.TypeMX)
	if err != nil {
		return Result[[]MX]{}, err
	}
	var mxs []MX
	for _, rr := range msg.Answer {
		if mx, ok := rr.(*dns.MX); ok {
			mxs = append(mxs, MX{Host: strings.TrimSuffix(mx.Mx, "."), Preference: mx.Preference})
		}
	}
	if len(mxs) == 0 {
		return Result[[]MX]{}, fmt.Errorf("MX %s: %w", domain, ErrNotFound)
	}
	rand.Shuffle(len(mxs), func(i, j int) { mxs[i], mxs[j] = mxs[j], mxs[i] })
	slices.SortStableFunc(mxs, func(a, b MX) int { return int(a.Preference) - int(b.Preference) })
	return Result[[]MX]{Records: mxs, Authentic: msg.AuthenticatedData}, nil
}

// Addrs returns the IPv6 and IPv4 addresses of host, IPv6 first. An IP
// literal is returned as itself.
func (r *Resolver) Addrs(ctx context.Context, host string) (Result[[]netip.Addr], error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return Result[[]netip.Addr]{Records: []netip.Addr{a}, Authentic: true}, nil
	}
	var res Result[[]netip.Addr]
	res.Authentic = true
	var errs []error
	for _, t := range []uint16{dns.TypeAAAA, dns.TypeA} {
		msg, err := r.query(ctx, host, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		res.Authentic = res.Authentic && msg.AuthenticatedData
		for _, rr := range msg.Answer {
			switch rr := rr.(type) {
			case *dns.AAAA:
				if a, ok := netip.AddrFromSlice(rr.AAAA); ok {
					res.Records = append(res.Records, a)
				}
			case *dns.A:
				if a, ok := netip.AddrFromSlice(rr.A.To4()); ok {
					res.Records = append(res.Records, a)
				}
			}
		}
	}
	if len(res.Records) > 0 {
		return res, nil
	}
	// Both lookups must say "no such record" for the host to have none; one
	// timeout among them is an outage.
	for _, err := range errs {
		if !errors.Is(err, ErrNotFound) {
			return Result[[]netip.Addr]{}, err
		}
	}
	return Result[[]netip.Addr]{}, fmt.Errorf("addresses of %s: %w", host, ErrNotFound)
}

// TXT returns the TXT records of name, each one string made of its
// character-strings joined (RFC 7208 section 3.3, RFC 6376 section
// 3.6.2.2).
func (r *Resolver) TXT(ctx context.Context, name string) (Result[[]string], error) {
	msg, err := r.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return Result[[]string]{}, err
	}
	var txts []string
	for _, rr := range msg.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			txts = append(txts, strings.Join(t.Txt, ""))
		}
	}
	if len(txts) == 0 {
		return Result[[]string]{}, fmt.Errorf("TXT %s: %w", name, ErrNotFound)
	}
	return Result[[]string]{Records: txts, Authentic: msg.AuthenticatedData}, nil
}

// SRV is a service record (RFC 2782).
type SRV struct {
	Target                 string // without the trailing dot; "" for "." (no service, RFC 6186 section 4)
	Port, Priority, Weight uint16
}

// SRV returns the SRV records of name (_imaps._tcp.DOMAIN, say) in the
// order the server gave them.
func (r *Resolver) SRV(ctx context.Context, name string) (Result[[]SRV], error) {
	msg, err := r.query(ctx, name, dns.TypeSRV)
	if err != nil {
		return Result[[]SRV]{}, err
	}
	var recs []SRV
	for _, rr := range msg.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			recs = append(recs, SRV{Target: strings.TrimSuffix(s.Target, "."), Port: s.Port, Priority: s.Priority, Weight: s.Weight})
		}
	}
	if len(recs) == 0 {
		return Result[[]SRV]{}, fmt.Errorf("SRV %s: %w", name, ErrNotFound)
	}
	return Result[[]SRV]{Records: recs, Authentic: msg.AuthenticatedData}, nil
}

// CNAME returns the canonical name name is an alias of, without the
// trailing dot; ErrNotFound when name is no alias.
func (r *Resolver) CNAME(ctx context.Context, name string) (Result[string], error) {
	msg, err := r.query(ctx, name, dns.TypeCNAME)
	if err != nil {
		return Result[string]{}, err
	}
	for _, rr := range msg.Answer {
		if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, dns.Fqdn(name)) {
			return Result[string]{Records: strings.TrimSuffix(c.Target, "."), Authentic: msg.AuthenticatedData}, nil
		}
	}
	return Result[string]{}, fmt.Errorf("CNAME %s: %w", name, ErrNotFound)
}

// TLSA is a TLSA record (RFC 6698 section 2.1).
type TLSA struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte // the certificate association data
}

// TLSA returns the TLSA records of name (_25._tcp.HOST for SMTP, RFC 7672
// section 2.2). Only an authentic answer may be used for DANE.
func (r *Resolver) TLSA(ctx context.Context, name string) (Result[[]TLSA], error) {
	msg, err := r.query(ctx, name, dns.TypeTLSA)
	if err != nil {
		return Result[[]TLSA]{}, err
	}
	var recs []TLSA
	for _, rr := range msg.Answer {
		if t, ok := rr.(*dns.TLSA); ok {
			data, err := hex.DecodeString(t.Certificate)
			if err != nil {
				continue
			}
			recs = append(recs, TLSA{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: data})
		}
	}
	if len(recs) == 0 {
		return Result[[]TLSA]{}, fmt.Errorf("TLSA %s: %w", name, ErrNotFound)
	}
	return Result[[]TLSA]{Records: recs, Authentic: msg.AuthenticatedData}, nil
}

// query asks each server in turn until one answers, over UDP and again
// over TCP when the answer is truncated (RFC 7766).
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	servers := r.Servers
	if len(servers) == 0 {
		conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return nil, fmt.Errorf("reading /etc/resolv.conf: %w; set the resolver in the configuration", err)
		}
		for _, s := range conf.Servers {
			servers = append(servers, net.JoinHostPort(s, conf.Port))
		}
	}
	if len(servers) == 0 {
		return nil, errors.New("no DNS resolver configured")
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.RecursionDesired = true
	// Ask for DNSSEC status: AD in the query (RFC 6840 section 5.7) and
	// the DO bit with a large enough buffer for signed answers.
	q.AuthenticatedData = true
	q.SetEdns0(1232, true)

	var last error
	for _, server := range servers {
		msg, err := exchange(ctx, q, server, timeout)
		if err != nil {
			last = err
			continue
		}
		switch msg.Rcode {
		case dns.RcodeSuccess:
			if len(msg.Answer) == 0 {
				return nil, fmt.Errorf("%s %s: %w", dns.TypeToString[qtype], name, ErrNotFound)
			}
			return msg, nil
		case dns.RcodeNameError:
			return nil, fmt.Errorf("%s %s: %w (NXDOMAIN)", dns.TypeToString[qtype], name, ErrNotFound)
		default:
			last = fmt.Errorf("%s %s: resolver %s answered %s", dns.TypeToString[qtype], name, server, dns.RcodeToString[msg.Rcode])
		}
	}
	return nil, last
}

func exchange(ctx context.Context, q *dns.Msg, server string, timeout time.Duration) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &dns.Client{Net: "udp", UDPSize: 1232}
	msg, _, err := c.ExchangeContext(ctx, q, server)
	if err == nil && msg.Truncated {
		c = &dns.Client{Net: "tcp"}
		msg, _, err = c.ExchangeContext(ctx, q, server)
	}
	if err != nil {
		return nil, fmt.Errorf("asking %s: %w", server, err)
	}
	return msg, nil
}
