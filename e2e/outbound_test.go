package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"casella/internal/resolver"
	"casella/internal/resolver/dnstest"
)

// Mail submitted on one Casella for another domain goes, with no smarthost,
// to that domain's MX found in a real DNS server: here a second Casella.
// It arrives signed with both DKIM keys of the sender's domain, and both
// signatures verify against the records `casella dkim generate` printed.
// The receiving Casella checks senders: it records DKIM and DMARC passing,
// and refuses a message that forges the sender's domain, whose DMARC
// policy is reject.
func TestDirectDeliverySigned(t *testing.T) {
	dns := dnstest.Start(t,
		`_dmarc.example.test. 300 IN TXT "v=DMARC1; p=reject"`,
		`example.test. 300 IN TXT "v=spf1 -all"`,
		`_dmarc.shop.test. 300 IN TXT "v=DMARC1; p=quarantine"`,
	)

	// The receiving provider, remote.test.
	rdata, rconfig := newData(t, "")
	setConfig(t, rconfig, "smtp", fmt.Sprintf("resolvers = [%q]", dns.Addr))
	enableSenderChecks(t, rconfig)
	remote := startServer(t, rdata, rconfig)
	setupAccount(t, remote, "bob@remote.test", "bob-password-1")
	_, port, _ := net.SplitHostPort(remote.addr("smtp"))
	dns.Add(t, "remote.test. 300 IN MX 10 mx.remote.test.")
	dns.Add(t, "mx.remote.test. 300 IN A 127.0.0.1")

	// The sending provider, example.test, delivering to MX hosts on the
	// remote's port and asking the test's DNS server.
	data, config := newData(t, "")
	setConfig(t, config, "smtp", fmt.Sprintf("resolvers = [%q]\ndelivery_port = %s", dns.Addr, port))
	s := startServer(t, data, config)
	setupAccount(t, s, "alice@example.test", "alice-password-1")
	out := s.casella("dkim", "generate", "--selector", "e2e", "example.test")
	for _, line := range bytes.Split([]byte(out), []byte("\n")) {
		if bytes.Contains(line, []byte("IN TXT")) {
			dns.Add(t, string(line))
		}
	}

	msg := testMessage("direct-1", "alice@example.test", "bob@remote.test", "Hello over the Internet.")
	smtplibSend(t, pyJob{Port: s.port("submission"), StartTLS: true, User: "alice@example.test", Password: "alice-password-1",
		Messages: []pyMessage{{From: "alice@example.test", To: []string{"bob@remote.test"}, Data: b64(msg)}}})

	var got [][]byte
	waitFor(t, 30*time.Second, "delivery to the remote MX", func() bool {
		got = stored(t, remote, "bob@remote.test", "bob-password-1", "INBOX")
		return len(got) == 1
	})
	_, original := traceSplit(t, got[0])
	if !bytes.HasSuffix(original, msg) {
		t.Fatalf("remote stored\n%s\nwant it to end with the message sent", original)
	}

	r := &resolver.Resolver{Servers: []string{dns.Addr}}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(original), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			res, err := r.TXT(context.Background(), name)
			return res.Records, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	verified := 0
	for _, v := range vs {
		if v.Err != nil {
			t.Errorf("signature %s: %v", v.Domain, v.Err)
		} else if v.Domain == "example.test" {
			verified++
		}
	}
	if verified != 2 {
		t.Fatalf("%d signatures of example.test verified, want 2 (RSA and Ed25519)", verified)
	}
	for _, want := range []string{"Authentication-Results: mx.example.test;", "dkim=pass", "header.d=example.test", "dmarc=pass", "spf=fail"} {
		if !bytes.Contains(got[0], []byte(want)) {
			t.Errorf("the receiver's copy lacks %q:\n%s", want, got[0])
		}
	}

	// A forger sends "from" example.test straight to the remote MX.
	forged := testMessage("forged-1", "alice@example.test", "bob@remote.test", "Send me your password.")
	out = python(t, `
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
try:
    s.sendmail("alice@example.test", ["bob@remote.test"], sys.argv[2].encode())
    print("accepted")
except smtplib.SMTPDataError as e:
    print("refused", e.smtp_code, e.smtp_error.decode())
`, port, string(forged))
	if !strings.HasPrefix(out, "refused 550") || !strings.Contains(out, "DMARC") {
		t.Fatalf("forged message: %s, want refused with 550 naming DMARC", out)
	}
	// One from a domain whose policy is quarantine goes to Junk.
	smtplibSend(t, pyJob{Port: port, Messages: []pyMessage{{From: "deals@shop.test", To: []string{"bob@remote.test"},
		Data: b64(testMessage("junk-1", "deals@shop.test", "bob@remote.test", "Cheap watches."))}}})
	waitFor(t, 30*time.Second, "delivery to Junk", func() bool {
		return len(stored(t, remote, "bob@remote.test", "bob-password-1", "Junk")) == 1
	})
	if n := len(stored(t, remote, "bob@remote.test", "bob-password-1", "INBOX")); n != 1 {
		t.Fatalf("INBOX holds %d messages after the forgery and the junk, want 1", n)
	}
}

// enableSenderChecks turns on the SPF, DKIM and DMARC checks that the
// harness's configuration turns off.
func enableSenderChecks(t *testing.T, config string) {
	t.Helper()
	raw, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	on := strings.Replace(string(raw), "check_senders = false", "check_senders = true", 1)
	if err := os.WriteFile(config, []byte(on), 0o644); err != nil {
		t.Fatal(err)
	}
}
