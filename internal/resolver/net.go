package resolver

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/miekg/dns"
)

// Net is a Resolver with the method set of *net.Resolver, for libraries
// that take one (SPF's). Its errors are *net.DNSError, with IsNotFound for
// a name or record that does not exist and IsTemporary for an outage, the
// distinction those libraries read.
type Net struct{ R *Resolver }

// LookupTXT returns the TXT records of name.
func (n Net) LookupTXT(ctx context.Context, name string) ([]string, error) {
	res, err := n.R.TXT(ctx, name)
	return res.Records, netError(name, err)
}

// LookupMX returns the MX records of name.
func (n Net) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	res, err := n.R.MX(ctx, name)
	if err != nil {
		return nil, netError(name, err)
	}
	mxs := make([]*net.MX, len(res.Records))
	for i, mx := range res.Records {
		mxs[i] = &net.MX{Host: dns.Fqdn(mx.Host), Pref: mx.Preference}
	}
	return mxs, nil
}

// LookupIPAddr returns the addresses of host.
func (n Net) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	res, err := n.R.Addrs(ctx, host)
	if err != nil {
		return nil, netError(host, err)
	}
	addrs := make([]net.IPAddr, len(res.Records))
	for i, a := range res.Records {
		addrs[i] = net.IPAddr{IP: a.AsSlice()}
	}
	return addrs, nil
}

// LookupAddr returns the names of an address (its PTR records).
func (n Net) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	name, err := dns.ReverseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: addr}
	}
	msg, err := n.R.query(ctx, name, dns.TypePTR)
	if err != nil {
		return nil, netError(addr, err)
	}
	var names []string
	for _, rr := range msg.Answer {
		if p, ok := rr.(*dns.PTR); ok {
			names = append(names, p.Ptr)
		}
	}
	return names, nil
}

func netError(name string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrNotFound) {
		return &net.DNSError{Err: "no such host", Name: strings.TrimSuffix(name, "."), IsNotFound: true}
	}
	return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
}
