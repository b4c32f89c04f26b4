package smtp

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"casella/internal/mailauth"
	"casella/internal/resolver"
	"casella/internal/resolver/dnstest"
)

// A DMARC p=reject failure is refused with 550 at the end of DATA, but
// when the aligned SPF check could not be made for a DNS failure the
// sender is asked to try again (451 4.7.5): our resolver's fault is not
// the sender's (DESIGN.md invariant 2). Nothing is queued either way.
func TestSenderChecksDNSFailure(t *testing.T) {
	dnsSrv := dnstest.Start(t,
		`_dmarc.bank.test. 300 IN TXT "v=DMARC1; p=reject"`,
		`bank.test. 300 IN TXT "v=spf1 ip4:192.0.2.10 -all"`,
		`_dmarc.down.test. 300 IN TXT "v=DMARC1; p=reject"`,
	)
	dnsSrv.Fail("down.test", dns.RcodeServerFailure)
	checks := &mailauth.Checker{Resolver: &resolver.Resolver{Servers: []string{dnsSrv.Addr}}, Hostname: "mx.example.test"}
	e := newTestEnv(t, func(c *Config) { c.Checks = checks })
	for _, tt := range []struct{ domain, reply string }{
		{"bank.test", "550 5.7.1"},
		{"down.test", "451 4.7.5"},
	} {
		c := dialRaw(t, e.mx)
		c.cmd("EHLO client.test", "250")
		c.cmd("MAIL FROM:<x@"+tt.domain+">", "250")
		c.cmd("RCPT TO:<alice@example.test>", "250")
		c.cmd("DATA", "354")
		c.send("From: <a@" + tt.domain + ">\r\nTo: <alice@example.test>\r\nSubject: hi\r\n\r\nhello\r\n.\r\n")
		if got := c.expect(tt.reply); !strings.Contains(got, tt.domain) {
			t.Errorf("%s: reply %q does not name the domain", tt.domain, got)
		}
	}
	if n := len(e.spool.all()); n != 0 {
		t.Fatalf("%d messages queued, want none", n)
	}
}
