package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// Debian's Postfix, signing with Debian's OpenDKIM as a milter, relays
// mail to Casella's MX: Casella's Authentication-Results say SPF, DKIM and
// DMARC pass. A copy whose body changed after signing says dkim=fail; an
// unsigned message from another domain says dkim=none; and one whose From
// forges a domain with DMARC p=reject is refused, so Postfix bounces it.
func TestPostfixOpenDKIMSends(t *testing.T) {
	need(t, "opendkim")
	need(t, "opendkim-genkey")
	dns := dnstest.Start(t,
		`pf.test. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
		`_dmarc.pf.test. 300 IN TXT "v=DMARC1; p=none"`,
		`other.test. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
		`bank.test. 300 IN TXT "v=spf1 -all"`,
		`_dmarc.bank.test. 300 IN TXT "v=DMARC1; p=reject"`,
	)
	data, config := newData(t, "")
	setConfig(t, config, "smtp", fmt.Sprintf("resolvers = [%q]", dns.Addr))
	enableSenderChecks(t, config)
	s := startServer(t, data, config)
	setupAccount(t, s, "bob@example.test", "bob-password-1")

	milter := startOpenDKIM(t, dns, "pf.test", "s1")
	pf := startPostfix(t, postfixOptions{hostname: "mail.pf.test", relayhost: s.addr("smtp"), milter: milter})

	send := func(id, from, to string) []byte {
		msg := testMessage(id, from, to, "Sent through Postfix: "+id)
		smtplibSend(t, pyJob{Port: pf.port, Messages: []pyMessage{{From: from, To: []string{to}, Data: b64(msg)}}})
		return msg
	}
	send("signed", "carol@pf.test", "bob@example.test")
	send("unsigned", "dave@other.test", "bob@example.test")
	send("forged", "security@bank.test", "bob@example.test")

	var got [][]byte
	waitFor(t, 60*time.Second, "two messages relayed by Postfix", func() bool {
		got = stored(t, s, "bob@example.test", "bob-password-1", "INBOX")
		return len(got) >= 2
	})
	byID := map[string][]byte{}
	for _, m := range got {
		for _, id := range []string{"signed", "unsigned", "forged"} {
			if bytes.Contains(m, []byte("Message-ID: <"+id+"@e2e.test>")) {
				byID[id] = m
			}
		}
	}
	authResults(t, byID["signed"], "signed", "spf=pass", "dkim=pass", "header.d=pf.test", "dmarc=pass")
	authResults(t, byID["unsigned"], "unsigned", "spf=pass", "dkim=none", "dmarc=none")
	if _, ok := byID["forged"]; ok {
		t.Fatalf("the message forging bank.test was stored:\n%s", byID["forged"])
	}
	waitFor(t, 30*time.Second, "Postfix to log the refusal", func() bool {
		return strings.Contains(pf.log(), "status=bounced") && strings.Contains(pf.log(), "said: 550")
	})

	// The signed message with its body changed after OpenDKIM signed it,
	// sent straight to Casella from the same address.
	signed := withoutTrace(byID["signed"])
	altered := bytes.Replace(signed, []byte("Sent through Postfix: signed"), []byte("Sent through Postfix: altered"), 1)
	if bytes.Equal(altered, signed) || !bytes.Contains(altered, []byte("DKIM-Signature:")) {
		t.Fatalf("no signed body to alter in\n%s", signed)
	}
	smtplibSend(t, pyJob{Port: s.port("smtp"), Messages: []pyMessage{{From: "carol@pf.test", To: []string{"bob@example.test"}, Data: b64(altered)}}})
	waitFor(t, 30*time.Second, "the altered message", func() bool {
		got = stored(t, s, "bob@example.test", "bob-password-1", "INBOX")
		return len(got) == 3
	})
	authResults(t, got[2], "altered", "spf=pass", "dkim=fail", "header.d=pf.test", "dmarc=pass")
}

// authResults checks the first Authentication-Results field of msg.
func authResults(t *testing.T, msg []byte, what string, want ...string) {
	t.Helper()
	if msg == nil {
		t.Fatalf("no %s message was stored", what)
	}
	i := bytes.Index(msg, []byte("Authentication-Results: mx.example.test;"))
	if i < 0 {
		t.Fatalf("the %s message has no Authentication-Results of mx.example.test:\n%s", what, msg)
	}
	field := string(msg[i:])
	field = field[:strings.Index(field, "\r\n")+2]
	for strings.HasPrefix(string(msg[i+len(field):]), " ") || strings.HasPrefix(string(msg[i+len(field):]), "\t") {
		rest := string(msg[i+len(field):])
		field += rest[:strings.Index(rest, "\r\n")+2]
	}
	for _, w := range want {
		if !strings.Contains(field, w) {
			t.Errorf("the %s message's %s lacks %q", what, strings.TrimSpace(field), w)
		}
	}
}

// withoutTrace returns a stored message without the fields Casella and
// Postfix added on top of it: trace fields and Authentication-Results.
func withoutTrace(msg []byte) []byte {
	for {
		line := msg[:bytes.Index(msg, []byte("\r\n"))+2]
		name := strings.ToLower(string(line[:max(0, bytes.IndexByte(line, ':'))]))
		if name != "return-path" && name != "delivered-to" && name != "received" && name != "authentication-results" {
			return msg
		}
		end := len(line)
		for end < len(msg) && (msg[end] == ' ' || msg[end] == '\t') {
			end += bytes.Index(msg[end:], []byte("\r\n")) + 2
		}
		msg = msg[end:]
	}
}

// startOpenDKIM generates a key with opendkim-genkey, publishes it in dns,
// and starts OpenDKIM signing domain's mail as a milter on a random
// loopback port, which it returns in Postfix's syntax.
func startOpenDKIM(t *testing.T, dns *dnstest.Server, domain, selector string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("opendkim-genkey", "-D", dir, "-d", domain, "-s", selector).CombinedOutput(); err != nil {
		t.Fatalf("opendkim-genkey: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, selector+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	// The record is zone-file text split over lines in parentheses; its
	// quoted strings are the TXT record's.
	quoted := regexp.MustCompile(`"[^"]*"`).FindAllString(string(raw), -1)
	dns.Add(t, fmt.Sprintf("%s._domainkey.%s. 300 IN TXT %s", selector, domain, strings.Join(quoted, " ")))
	port := freePort(t)
	conf := fmt.Sprintf(`Syslog no
Domain %s
Selector %s
KeyFile %s
Socket inet:%s@127.0.0.1
Mode s
Canonicalization relaxed/simple
PidFile %s
# The key sits under /tmp, which others may write.
RequireSafeKeys false
`, domain, selector, filepath.Join(dir, selector+".private"), port, filepath.Join(dir, "opendkim.pid"))
	if err := os.WriteFile(filepath.Join(dir, "opendkim.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("opendkim", "-f", "-x", filepath.Join(dir, "opendkim.conf"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("opendkim: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			t.Fatalf("opendkim exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("opendkim did not listen within 30s: %s", out.String())
		}
	}
	return "inet:127.0.0.1:" + port
}
