package mailauth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"casella/internal/resolver"
)

// DNSBL looks client addresses up in DNS blocklists (RFC 5782).
type DNSBL struct {
	Resolver *resolver.Resolver
	Zones    []string // e.g. zen.spamhaus.org; none by default
}

// Listed returns the first zone that lists ip. A zone that cannot be
// asked lists nothing: a blocklist outage must not stop mail, so its error
// is returned beside a false for the caller to log.
func (b *DNSBL) Listed(ctx context.Context, ip netip.Addr) (string, bool, error) {
	rev, err := dns.ReverseAddr(ip.Unmap().String())
	if err != nil {
		return "", false, err
	}
	rev = strings.TrimSuffix(rev, "in-addr.arpa.")
	rev = strings.TrimSuffix(rev, "ip6.arpa.")
	var errs []error
	for _, zone := range b.Zones {
		res, err := b.Resolver.Addrs(ctx, rev+strings.TrimSuffix(zone, "."))
		if errors.Is(err, resolver.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("blocklist %s: %w", zone, err))
			continue
		}
		for _, a := range res.Records {
			// RFC 5782 section 2.1: listings are in 127.0.0.0/8; some lists
			// answer 127.255.255.x for a refused query, which lists nothing.
			if a.Is4() && a.As4()[0] == 127 && !(a.As4()[1] == 255 && a.As4()[2] == 255) {
				return zone, true, nil
			}
		}
	}
	return "", false, errors.Join(errs...)
}
