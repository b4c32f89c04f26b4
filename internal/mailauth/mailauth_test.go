package mailauth_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"casella/internal/dkim"
	"casella/internal/mailauth"
	"casella/internal/resolver"
	"casella/internal/resolver/dnstest"
)

func message(from string) []byte {
	return []byte("From: " + from + "\r\nTo: bob@example.test\r\nSubject: invoice\r\nDate: Wed, 02 Dec 2026 09:00:00 +0000\r\nMessage-ID: <1@x>\r\n\r\nPlease pay.\r\n")
}

// world is the DNS of the Internet the tests send from: bank.test signs
// with DKIM and publishes p=reject; shop.test publishes p=quarantine and
// has a subdomain policy; evil.test authorizes its own sender in SPF.
func world(t *testing.T) (*mailauth.Checker, *dkim.Keyring, *dnstest.Server) {
	srv := dnstest.Start(t,
		`bank.test. 300 IN TXT "v=spf1 ip4:192.0.2.10 -all"`,
		`_dmarc.bank.test. 300 IN TXT "v=DMARC1; p=reject"`,
		`shop.test. 300 IN TXT "v=spf1 ip4:192.0.2.20 -all"`,
		`_dmarc.shop.test. 300 IN TXT "v=DMARC1; p=quarantine; sp=reject"`,
		`news.shop.test. 300 IN TXT "v=spf1 -all"`,
		`evil.test. 300 IN TXT "v=spf1 ip4:198.51.100.66 -all"`,
		`plain.test. 300 IN TXT "v=spf1 ip4:192.0.2.30 -all"`,
		`flaky.test. 300 IN TXT "v=spf1 ip4:192.0.2.40 -all"`,
		`_dmarc.flaky.test. 300 IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.spfdown.test. 300 IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.slowshop.test. 300 IN TXT "v=DMARC1; p=quarantine"`,
		`_dmarc.keydown.test. 300 IN TXT "v=DMARC1; p=reject"`,
	)
	// Outages: flaky.test's DMARC record, the SPF records of spfdown.test
	// and slowshop.test, keydown.test's DKIM keys.
	for _, name := range []string{"_dmarc.flaky.test", "spfdown.test", "slowshop.test"} {
		srv.Fail(name, dns.RcodeServerFailure)
	}
	kr := dkim.Open(t.TempDir())
	for _, d := range []string{"bank.test", "keydown.test"} {
		keys, err := kr.Generate(d, "k1")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			srv.Add(t, k.ZoneLine())
			if d == "keydown.test" {
				srv.Fail(k.RecordName(), dns.RcodeServerFailure)
			}
		}
	}
	return &mailauth.Checker{Resolver: &resolver.Resolver{Servers: []string{srv.Addr}}, Hostname: "mx.example.test"}, kr, srv
}

func TestVerdicts(t *testing.T) {
	c, kr, _ := world(t)
	signed, err := kr.Sign("bank.test", message("Bank <alerts@bank.test>"))
	if err != nil {
		t.Fatal(err)
	}
	keyDown, err := kr.Sign("keydown.test", message("<a@keydown.test>"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		ip         string
		mailFrom   string
		msg        []byte
		action     mailauth.Action
		inHeader   []string
		notInHeade string
	}{
		{"signed and from the bank's server", "192.0.2.10", "bounce@bank.test", signed, mailauth.Deliver,
			[]string{"spf=pass", "dkim=pass", "header.d=bank.test", "dmarc=pass", "header.from=bank.test"}, "fail"},
		{"signed, relayed by a forwarder", "203.0.113.5", "fwd@elsewhere.test", signed, mailauth.Deliver,
			[]string{"dkim=pass", "dmarc=pass"}, "dmarc=fail"},
		{"forged bank From, SPF of the forger passes", "198.51.100.66", "x@evil.test", message("Bank <alerts@bank.test>"), mailauth.Reject,
			[]string{"spf=pass", "dkim=none", "dmarc=fail"}, ""},
		{"forged bank From, tampered signature", "198.51.100.66", "x@evil.test", bytes.Replace(signed, []byte("Please pay."), []byte("Pay evil."), 1), mailauth.Reject,
			[]string{"dkim=fail", "dmarc=fail"}, ""},
		{"shop policy quarantine", "198.51.100.66", "x@evil.test", message("<deals@shop.test>"), mailauth.Quarantine,
			[]string{"dmarc=fail"}, ""},
		{"shop subdomain policy reject", "198.51.100.66", "x@evil.test", message("<deals@news.shop.test>"), mailauth.Reject,
			[]string{"dmarc=fail", "header.from=news.shop.test"}, ""},
		{"SPF aligned with the shop", "192.0.2.20", "bounces@shop.test", message("<deals@shop.test>"), mailauth.Deliver,
			[]string{"spf=pass", "dmarc=pass"}, ""},
		{"no DMARC record", "198.51.100.66", "x@evil.test", message("<a@plain.test>"), mailauth.Deliver,
			[]string{"spf=pass", "dmarc=none"}, ""},
		{"DMARC lookup fails: never a rejection", "198.51.100.66", "x@evil.test", message("<a@flaky.test>"), mailauth.Deliver,
			[]string{"dmarc=temperror"}, ""},
		// A DNS failure on an aligned identifier never rejects: the sender
		// is asked to try again (451), or the message is filed to Junk.
		{"aligned SPF lookup fails", "198.51.100.66", "x@spfdown.test", message("<a@spfdown.test>"), mailauth.Defer,
			[]string{"spf=temperror", "dmarc=temperror"}, ""},
		{"aligned DKIM key lookup fails", "203.0.113.5", "fwd@elsewhere.test", keyDown, mailauth.Defer,
			[]string{"dkim=temperror", "dmarc=temperror"}, ""},
		{"aligned SPF lookup fails, quarantine", "198.51.100.66", "x@slowshop.test", message("<a@slowshop.test>"), mailauth.Quarantine,
			[]string{"spf=temperror", "dmarc=temperror"}, ""},
		{"unaligned SPF lookup fails", "198.51.100.66", "x@spfdown.test", message("Bank <alerts@bank.test>"), mailauth.Reject,
			[]string{"spf=temperror", "dmarc=fail"}, ""},
		{"two From fields", "198.51.100.66", "x@evil.test", append([]byte("From: <a@bank.test>\r\n"), message("<b@bank.test>")...), mailauth.Deliver,
			[]string{"dmarc=permerror"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := c.Check(context.Background(), net.ParseIP(tt.ip), "client.test", tt.mailFrom, tt.msg)
			if v.Action != tt.action {
				t.Errorf("action %v, want %v (%s)", v.Action, tt.action, v.Header)
			}
			if !strings.HasPrefix(v.Header, "Authentication-Results: mx.example.test;") || !strings.HasSuffix(v.Header, "\r\n") {
				t.Errorf("header %q", v.Header)
			}
			for _, s := range tt.inHeader {
				if !strings.Contains(v.Header, s) {
					t.Errorf("header lacks %q: %s", s, v.Header)
				}
			}
			if tt.notInHeade != "" && strings.Contains(v.Header, tt.notInHeade) {
				t.Errorf("header has %q: %s", tt.notInHeade, v.Header)
			}
		})
	}
}

func TestStampRemovesForgedResults(t *testing.T) {
	msg := "Received: from a\r\n" +
		"Authentication-Results: MX.example.test; dkim=pass\r\n\theader.d=bank.test\r\n" +
		"Authentication-Results: (comment) mx.example.test; spf=pass\r\n" +
		"Authentication-Results: other.test; spf=fail\r\n" +
		"Subject: hi\r\n\r\n" +
		"Authentication-Results: mx.example.test; in the body, kept\r\n"
	v := mailauth.Verdict{Header: "Authentication-Results: mx.example.test; spf=none\r\n"}
	got := string(mailauth.Stamp([]byte(msg), v, "mx.example.test"))
	want := "Authentication-Results: mx.example.test; spf=none\r\n" +
		"Received: from a\r\n" +
		"Authentication-Results: other.test; spf=fail\r\n" +
		"Subject: hi\r\n\r\n" +
		"Authentication-Results: mx.example.test; in the body, kept\r\n"
	if got != want {
		t.Fatalf("Stamp =\n%s\nwant\n%s", got, want)
	}
}

// Stamp never touches the body, whatever the header holds.
func FuzzStamp(f *testing.F) {
	f.Add([]byte("Authentication-Results: h; x\r\n\tfolded\r\nA: b\r\n\r\nbody\r\n"))
	f.Add([]byte("no header"))
	f.Add([]byte("Authentication-Results: (((h; x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		v := mailauth.Verdict{Header: "Authentication-Results: h; none\r\n"}
		out := mailauth.Stamp(msg, v, "h")
		if !bytes.HasPrefix(out, []byte(v.Header)) {
			t.Fatal("header not first")
		}
		if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
			if body := msg[i+4:]; !bytes.HasSuffix(out, body) {
				t.Fatal("body changed")
			}
		}
		if len(out) > len(msg)+len(v.Header) {
			t.Fatal("Stamp added bytes")
		}
	})
}
