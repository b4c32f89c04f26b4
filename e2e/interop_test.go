package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"casella/internal/resolver/dnstest"
)

// Casella delivers to Debian's Postfix as the remote provider's MX, found
// through a real DNS server: the message arrives once, and both of
// Casella's DKIM signatures verify with dkimpy (Debian's python3-dkim, the
// library of its dkimverify), which reads the keys from that DNS server.
func TestPostfixReceives(t *testing.T) {
	dns := dnstest.Start(t,
		"remote.test. 300 IN MX 10 mx.remote.test.",
		"mx.remote.test. 300 IN A 127.0.0.1",
	)
	pf := startPostfix(t, postfixOptions{hostname: "mx.remote.test", domain: "remote.test"})

	data, config := newData(t, "")
	setConfig(t, config, "smtp", fmt.Sprintf("resolvers = [%q]\ndelivery_port = %s", dns.Addr, pf.port))
	s := startServer(t, data, config)
	setupAccount(t, s, "alice@example.test", "alice-password-1")
	publishDKIM(t, s, dns, "example.test")

	msg := testMessage("postfix-1", "alice@example.test", "bob@remote.test", "Hello, Postfix.")
	smtplibSend(t, pyJob{Port: s.port("submission"), StartTLS: true, User: "alice@example.test", Password: "alice-password-1",
		Messages: []pyMessage{{From: "alice@example.test", To: []string{"bob@remote.test"}, Data: b64(msg)}}})

	var got [][]byte
	waitFor(t, 30*time.Second, "Postfix's delivery to its Maildir", func() bool {
		got = pf.delivered()
		return len(got) > 0
	})
	// Anything sent twice would have arrived by now too.
	time.Sleep(2 * time.Second)
	if got = pf.delivered(); len(got) != 1 {
		t.Fatalf("Postfix delivered %d messages, want 1:\n%s", len(got), pf.log())
	}
	if !bytes.Contains(got[0], []byte("Message-ID: <postfix-1@e2e.test>")) || !bytes.Contains(got[0], []byte("Hello, Postfix.")) {
		t.Fatalf("Postfix delivered\n%s", got[0])
	}
	// Postfix noted that Casella came over TLS.
	if !strings.Contains(pf.log(), "TLS connection established from localhost[127.0.0.1]") {
		t.Errorf("Postfix logged no TLS session from Casella:\n%s", pf.log())
	}
	out := dkimpyVerify(t, dns.Addr, got[0])
	if strings.Count(out, "pass example.test") != 2 {
		t.Fatalf("dkimpy on the delivered message:\n%s\nwant two signatures of example.test passing (RSA and Ed25519)", out)
	}
}

// publishDKIM makes the server's DKIM keys for domain and publishes their
// records in dns.
func publishDKIM(t *testing.T, s *server, dns *dnstest.Server, domain string) {
	t.Helper()
	out := s.casella("dkim", "generate", "--selector", "e2e", domain)
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "IN TXT") {
			dns.Add(t, line)
		}
	}
}

// dkimpyVerify verifies every DKIM signature of msg with dkimpy, asking
// the DNS server at addr for the keys, and prints "pass DOMAIN" or "fail
// DOMAIN" for each.
func dkimpyVerify(t *testing.T, addr string, msg []byte) string {
	t.Helper()
	need(t, "/usr/bin/python3")
	host, port, _ := net.SplitHostPort(addr)
	out, err := runPython3(`
import re, sys, dkim, dns.resolver
r = dns.resolver.Resolver(configure=False)
r.nameservers, r.port = [sys.argv[1]], int(sys.argv[2])
def txt(name, timeout=5):
    ans = r.resolve(name.decode(), "TXT", tcp=True)
    return b"".join(ans[0].strings)
msg = sys.stdin.buffer.read()
d = dkim.DKIM(msg)
for i, (k, v) in enumerate(h for h in d.headers if h[0].lower() == b"dkim-signature"):
    sig = dkim.parse_tag_value(re.sub(rb"\s", b"", v))
    ok = d.verify(idx=i, dnsfunc=txt)
    print("pass" if ok else "fail", sig[b"d"].decode(), sig[b"a"].decode())
`, msg, host, port)
	if err != nil {
		t.Fatalf("dkimpy: %v\n%s", err, out)
	}
	return out
}

// runPython3 runs a script with Debian's python3, whose dkimpy and
// dnspython come from Debian packages, with stdin as its input.
func runPython3(script string, stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", append([]string{"-c", script}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
