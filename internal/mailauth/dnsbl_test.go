package mailauth_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"casella/internal/mailauth"
	"casella/internal/resolver"
	"casella/internal/resolver/dnstest"
)

func TestDNSBL(t *testing.T) {
	srv := dnstest.Start(t,
		"2.0.0.127.bl.test. 300 IN A 127.0.0.2",
		"10.2.0.192.bl.test. 300 IN A 127.0.0.4",
		"11.2.0.192.bl.test. 300 IN A 127.255.255.254",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test. 300 IN A 127.0.0.2",
	)
	srv.Fail("12.2.0.192.bl.test", dns.RcodeServerFailure)
	b := &mailauth.DNSBL{Resolver: &resolver.Resolver{Servers: []string{srv.Addr}}, Zones: []string{"empty.test", "bl.test"}}
	for ip, want := range map[string]bool{
		"127.0.0.2":   true,
		"192.0.2.10":  true,
		"192.0.2.11":  false, // the list's "query refused" answer
		"192.0.2.12":  false, // the list is down
		"192.0.2.99":  false,
		"2001:db8::1": true,
	} {
		zone, listed, _ := b.Listed(context.Background(), netip.MustParseAddr(ip))
		if listed != want || listed && zone != "bl.test" {
			t.Errorf("Listed(%s) = %q, %v; want %v", ip, zone, listed, want)
		}
	}
}
