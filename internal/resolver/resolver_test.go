package resolver_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"casella/internal/resolver"
	"casella/internal/resolver/dnstest"
)

func TestMX(t *testing.T) {
	srv := dnstest.Start(t,
		"mail.test. 300 IN MX 20 backup.mail.test.",
		"mail.test. 300 IN MX 10 mx1.mail.test.",
		"mail.test. 300 IN MX 10 mx2.mail.test.",
		"null.test. 300 IN MX 0 .",
		"nomx.test. 300 IN A 192.0.2.1",
	)
	r := &resolver.Resolver{Servers: []string{srv.Addr}}
	ctx := context.Background()

	seen := map[string]bool{}
	for range 20 {
		res, err := r.MX(ctx, "mail.test")
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) != 3 || res.Records[2].Host != "backup.mail.test" {
			t.Fatalf("MX = %+v, want the preference 20 host last", res.Records)
		}
		seen[res.Records[0].Host] = true
		if res.Authentic {
			t.Error("answer of an unsigned zone is authentic")
		}
	}
	if !seen["mx1.mail.test"] || !seen["mx2.mail.test"] {
		t.Errorf("equal preferences not shuffled: first hosts seen %v", seen)
	}

	res, err := r.MX(ctx, "null.test")
	if err != nil || len(res.Records) != 1 || res.Records[0].Host != "" {
		t.Errorf("null MX = %+v, %v; want one record with an empty host", res.Records, err)
	}
	if _, err := r.MX(ctx, "nomx.test"); !errors.Is(err, resolver.ErrNotFound) {
		t.Errorf("MX of a domain without MX: %v, want ErrNotFound", err)
	}
	if _, err := r.MX(ctx, "nxdomain.test"); !errors.Is(err, resolver.ErrNotFound) {
		t.Errorf("MX of a missing domain: %v, want ErrNotFound", err)
	}
}

func TestAddrs(t *testing.T) {
	srv := dnstest.Start(t,
		"both.test. 300 IN A 192.0.2.1",
		"both.test. 300 IN AAAA 2001:db8::1",
		"v4.test. 300 IN A 192.0.2.2",
		"txt.test. 300 IN TXT \"no addresses\"",
	)
	srv.Sign("both.test")
	r := &resolver.Resolver{Servers: []string{srv.Addr}}
	ctx := context.Background()

	res, err := r.Addrs(ctx, "both.test")
	want := []netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.1")}
	if err != nil || fmt.Sprint(res.Records) != fmt.Sprint(want) || !res.Authentic {
		t.Errorf("Addrs(both.test) = %+v, %v; want %v, authentic", res, err, want)
	}
	res, err = r.Addrs(ctx, "v4.test")
	if err != nil || len(res.Records) != 1 || res.Authentic {
		t.Errorf("Addrs(v4.test) = %+v, %v", res, err)
	}
	if _, err := r.Addrs(ctx, "txt.test"); !errors.Is(err, resolver.ErrNotFound) {
		t.Errorf("Addrs of a name without addresses: %v, want ErrNotFound", err)
	}
	res, err = r.Addrs(ctx, "127.0.0.1")
	if err != nil || res.Records[0] != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("Addrs of an IP literal = %+v, %v", res, err)
	}
}

// A server failure is an outage, not an answer: the caller must try again
// later instead of bouncing.
func TestServerFailureIsTemporary(t *testing.T) {
	srv := dnstest.Start(t, "broken.test. 300 IN MX 10 mx.broken.test.")
	srv.Fail("broken.test", dns.RcodeServerFailure)
	r := &resolver.Resolver{Servers: []string{srv.Addr}}
	_, err := r.MX(context.Background(), "broken.test")
	if err == nil || errors.Is(err, resolver.ErrNotFound) {
		t.Errorf("SERVFAIL gave %v, want a temporary error", err)
	}
}

// The next server is asked when one does not answer.
func TestFallbackServer(t *testing.T) {
	srv := dnstest.Start(t, "mail.test. 300 IN MX 10 mx.mail.test.")
	r := &resolver.Resolver{Servers: []string{"127.0.0.1:1", srv.Addr}, Timeout: time.Second}
	res, err := r.MX(context.Background(), "mail.test")
	if err != nil || len(res.Records) != 1 {
		t.Fatalf("MX with a dead first server = %+v, %v", res, err)
	}
}
