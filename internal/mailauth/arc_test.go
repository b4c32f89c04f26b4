package mailauth_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"casella/internal/arc"
	"casella/internal/dkim"
	"casella/internal/mailauth"
	"casella/internal/resolver"
)

// A mailing list at lists.test adds a footer to the bank's signed
// message, which breaks its DKIM signature, seals it with ARC and sends
// it on from its own server: DMARC fails, and only an operator who
// trusts the list's seal lets the message through.
func TestARCOverride(t *testing.T) {
	c, kr, srv := world(t)
	lists := dkim.Open(t.TempDir())
	if _, err := lists.Generate("lists.test", "arc"); err != nil {
		t.Fatal(err)
	}
	key, ok, err := lists.NewestRSA("lists.test")
	if err != nil || !ok {
		t.Fatalf("no key: %v", err)
	}
	srv.Add(t, key.ZoneLine())
	srv.Add(t, `lists.test. 300 IN TXT "v=spf1 ip4:203.0.113.7 -all"`)
	sealer := &arc.Sealer{Domain: "lists.test", Selector: key.Selector, Key: key.Signer}
	r := &resolver.Resolver{Servers: []string{srv.Addr}}
	lookup := func(name string) ([]string, error) { return resolver.Net{R: r}.LookupTXT(context.Background(), name) }

	signed, err := kr.Sign("bank.test", message("Bank <alerts@bank.test>"))
	if err != nil {
		t.Fatal(err)
	}
	chain := arc.Verify(signed, lookup)
	withFooter := append(bytes.Clone(signed), "-- \r\nlist footer\r\n"...)
	sealed, err := sealer.Seal(withFooter, "lists.test; dkim=pass header.d=bank.test; dmarc=pass", chain)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(sealed, []byte("list footer"), []byte("evil footer"), 1)

	tests := []struct {
		name     string
		trusted  []string
		msg      []byte
		action   mailauth.Action
		inHeader []string
	}{
		{"trusted sealer", []string{"other.test", "Lists.Test."}, sealed, mailauth.Deliver,
			[]string{"dkim=fail", "arc=pass", "smtp.remote-ip=203.0.113.7", "dmarc=fail", "local policy override", "lists.test"}},
		{"sealer not trusted", []string{"other.test"}, sealed, mailauth.Reject, []string{"arc=pass", "dmarc=fail"}},
		{"nobody trusted", nil, sealed, mailauth.Reject, []string{"arc=pass", "dmarc=fail"}},
		{"changed after sealing", []string{"lists.test"}, tampered, mailauth.Reject, []string{"arc=fail", "body hash", "dmarc=fail"}},
		{"not sealed", []string{"lists.test"}, withFooter, mailauth.Reject, []string{"arc=none", "dmarc=fail"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.TrustedSealers = tt.trusted
			v := c.Check(context.Background(), net.ParseIP("203.0.113.7"), "lists.test", "bounces@lists.test", tt.msg)
			if v.Action != tt.action {
				t.Errorf("action %v, want %v (%s)", v.Action, tt.action, v.Header)
			}
			for _, s := range tt.inHeader {
				if !strings.Contains(v.Header, s) {
					t.Errorf("header lacks %q: %s", s, v.Header)
				}
			}
			if tt.action == mailauth.Reject && strings.Contains(v.Header, "override") {
				t.Errorf("override claimed: %s", v.Header)
			}
		})
	}

	// The DNS cannot give the list's key for now: a chain that a trusted
	// sealer's seal would have let through defers the message (451)
	// rather than have it rejected for our resolver's fault; with the
	// sealer not trusted the chain decides nothing, and DMARC rejects.
	srv.Fail(key.RecordName(), dns.RcodeServerFailure)
	for _, tt := range []struct {
		trusted []string
		action  mailauth.Action
	}{{[]string{"lists.test"}, mailauth.Defer}, {[]string{"other.test"}, mailauth.Reject}} {
		c.TrustedSealers = tt.trusted
		v := c.Check(context.Background(), net.ParseIP("203.0.113.7"), "lists.test", "bounces@lists.test", sealed)
		if v.Action != tt.action || !strings.Contains(v.Header, "arc=temperror") || strings.Contains(v.Header, "override") {
			t.Errorf("trusting %v, the list's key unavailable: action %v, want %v (%s)", tt.trusted, v.Action, tt.action, v.Header)
		}
	}
}
