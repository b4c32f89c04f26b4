package e2e

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"casella/internal/resolver/dnstest"
)

// forwardPair is two Casellas that deliver to each other through a real
// DNS server: example.test, ours, and remote.test, the other provider.
type forwardPair struct {
	dns                      *dnstest.Server
	ours, remote             *server
	ourData, ourConfig       string
	remoteData, remoteConfig string
	ourPort, remotePort      string
}

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// startPair starts both servers. Ours listens for mail on a port chosen
// first, since the remote's delivery port must name it; ours has DKIM
// keys for example.test published, and an SPF record allowing loopback.
func startPair(t *testing.T) *forwardPair {
	t.Helper()
	p := &forwardPair{ourPort: freePort(t), remotePort: freePort(t)}
	p.dns = dnstest.Start(t,
		`example.test. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
		"example.test. 300 IN MX 10 mx.example.test.",
		"mx.example.test. 300 IN A 127.0.0.1",
		"remote.test. 300 IN MX 10 mx.remote.test.",
		"mx.remote.test. 300 IN A 127.0.0.1",
	)

	p.remoteData, p.remoteConfig = newData(t, "")
	rewriteConfig(t, p.remoteConfig, `hostname = "mx.example.test"`, `hostname = "mx.remote.test"`)
	rewriteConfig(t, p.remoteConfig, `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = \"127.0.0.1:%s\"", p.remotePort))
	setConfig(t, p.remoteConfig, "smtp", fmt.Sprintf("resolvers = [%q]\ndelivery_port = %s", p.dns.Addr, p.ourPort))
	enableSenderChecks(t, p.remoteConfig)
	p.remote = startServer(t, p.remoteData, p.remoteConfig)

	p.ourData, p.ourConfig = newData(t, "")
	rewriteConfig(t, p.ourConfig, `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = \"127.0.0.1:%s\"", p.ourPort))
	setConfig(t, p.ourConfig, "smtp", fmt.Sprintf("resolvers = [%q]\ndelivery_port = %s\nretry_min = \"1s\"\nretry_max = \"2s\"", p.dns.Addr, p.remotePort))
	p.ours = startServer(t, p.ourData, p.ourConfig)
	setupAccount(t, p.ours, "alice@example.test", "alice-password-1")
	out := p.ours.casella("dkim", "generate", "--selector", "e2e", "example.test")
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "IN TXT") {
			p.dns.Add(t, line)
		}
	}
	return p
}

// killDuring runs work while it kills s after a random time from min to
// min+spread, and returns that time once both are done.
func killDuring(s *server, min, spread time.Duration, work func()) time.Duration {
	at := min + rand.N(spread)
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(at)
		s.kill()
	}()
	work()
	<-done
	return at
}

// activate uploads and activates a script with sieve-connect.
func activate(t *testing.T, s *server, user, pass, script string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "main.sieve")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--upload", "--localsieve", path, "--remotesieve", "main"}, {"--activate", "--remotesieve", "main"}} {
		if out, err := sieveConnect(t, s, user, pass, args...); err != nil {
			t.Fatalf("sieve-connect %v: %v\n%s", args, err, out)
		}
	}
}

var returnPath = regexp.MustCompile(`(?m)^Return-Path: <([^>]*)>\r$`)

// A script redirects to a second local account and to another provider:
// each gets the message once. The remote copy's envelope sender is
// SRS-rewritten into example.test, which SPF allows, and its DKIM
// signature and ARC seal verify at the remote Casella. The remote's own
// redirect back is caught as a loop and kept. A redirect the remote
// refuses bounces to the original sender, and a bounce sent to the SRS
// address is relayed to it too; a forged SRS address is refused.
func TestSieveRedirectForward(t *testing.T) {
	need(t, "sieve-connect")
	p := startPair(t)
	setupAccount(t, p.ours, "alice2@example.test", "alice2-password-1")
	setupAccount(t, p.remote, "bob@remote.test", "bob-password-1")
	setupAccount(t, p.remote, "carol@remote.test", "carol-password-1")
	activate(t, p.ours, "alice@example.test", "alice-password-1",
		"redirect \"alice2@example.test\";\nredirect \"bob@remote.test\";\nredirect \"nobody@remote.test\";\n")
	activate(t, p.remote, "bob@remote.test", "bob-password-1", "require \"copy\";\nredirect :copy \"alice@example.test\";\n")

	msg := testMessage("fwd-1", "carol@remote.test", "alice@example.test", "Meet at noon.")
	smtplibSend(t, pyJob{Port: p.remote.port("submission"), StartTLS: true, User: "carol@remote.test", Password: "carol-password-1",
		Messages: []pyMessage{{From: "carol@remote.test", To: []string{"alice@example.test"}, Data: b64(msg)}}})

	count := func(s *server, user, pass, mailbox string) int { return len(stored(t, s, user, pass, mailbox)) }
	waitFor(t, 60*time.Second, "the redirects and the loop back", func() bool {
		return count(p.ours, "alice2@example.test", "alice2-password-1", "INBOX") == 1 &&
			count(p.remote, "bob@remote.test", "bob-password-1", "INBOX") == 1 &&
			count(p.ours, "alice@example.test", "alice-password-1", "INBOX") == 1 &&
			count(p.remote, "carol@remote.test", "carol-password-1", "INBOX") == 1
	})

	bob := stored(t, p.remote, "bob@remote.test", "bob-password-1", "INBOX")[0]
	m := returnPath.FindSubmatch(bob)
	if m == nil || !strings.HasPrefix(string(m[1]), "SRS0=") || !strings.HasSuffix(string(m[1]), "=remote.test=carol@example.test") {
		t.Fatalf("bob's copy has return path %q, want an SRS0 address of example.test", m)
	}
	srsAddr := string(m[1])
	for _, want := range []string{"spf=pass", "arc=pass", "dkim=pass", "header.d=example.test", "Delivered-To: alice@example.test"} {
		if !bytes.Contains(bob, []byte(want)) {
			t.Errorf("bob's copy lacks %q:\n%s", want, bob)
		}
	}
	back := stored(t, p.ours, "alice@example.test", "alice-password-1", "INBOX")[0]
	if !bytes.Contains(back, []byte("Delivered-To: bob@remote.test")) {
		t.Errorf("alice's INBOX holds something else than bob's copy back:\n%s", back)
	}
	dsn := stored(t, p.remote, "carol@remote.test", "carol-password-1", "INBOX")[0]
	if !bytes.Contains(dsn, []byte("report-type=delivery-status")) || !bytes.Contains(dsn, []byte("nobody@remote.test")) {
		t.Errorf("carol's DSN:\n%s", dsn)
	}

	// A bounce to the SRS address reaches carol; a forged one is refused.
	out := python(t, `
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.ehlo("mx.remote.test")
s.mail("")
print(s.rcpt(sys.argv[2])[0], s.rcpt(sys.argv[3])[0])
print(s.data(b"From: MAILER-DAEMON@remote.test\r\nSubject: Undelivered Mail\r\n\r\nbounce\r\n")[0])
s.quit()
`, p.ourPort, srsAddr, strings.Replace(srsAddr, "carol", "mallory", 1))
	if strings.Fields(out)[0] != "250" || strings.Fields(out)[1] != "550" {
		t.Fatalf("RCPT replies for the SRS address and a forged one: %s, want 250 550", out)
	}
	waitFor(t, 60*time.Second, "the bounce relayed to carol", func() bool {
		return count(p.remote, "carol@remote.test", "carol-password-1", "INBOX") == 2
	})

	// Nothing more arrives: no copy twice, no loop going round.
	time.Sleep(3 * time.Second)
	for _, c := range []struct {
		s          *server
		user, pass string
		want       int
	}{
		{p.ours, "alice2@example.test", "alice2-password-1", 1},
		{p.ours, "alice@example.test", "alice-password-1", 1},
		{p.remote, "bob@remote.test", "bob-password-1", 1},
		{p.remote, "carol@remote.test", "carol-password-1", 2},
	} {
		if n := count(c.s, c.user, c.pass, "INBOX"); n != c.want {
			t.Errorf("%s's INBOX holds %d messages, want %d", c.user, n, c.want)
		}
	}
}

// TestSieveRedirectCrashSIGKILL kills our server while mail arrives for an
// account whose script redirects every message to another provider and
// files a copy: after the restarts the remote has each accepted message
// exactly once, counted by Message-ID at the sink.
//
// The remote is down while we are killed, so the redirects wait in our
// queue: what is tested is that a replayed delivery queues nothing twice.
// With the remote up, SMTP itself can duplicate a message a kill cuts off
// between the remote's commit and its 250 reaching us (RFC 1047); no
// sender can prevent that.
func TestSieveRedirectCrashSIGKILL(t *testing.T) {
	need(t, "sieve-connect")
	p := startPair(t)
	setupAccount(t, p.remote, "bob@remote.test", "bob-password-1")
	activate(t, p.ours, "alice@example.test", "alice-password-1",
		"require [\"fileinto\", \"mailbox\"];\nfileinto :create \"Copies\";\nredirect \"bob@remote.test\";\n")

	p.remote.stop()
	accepted, attempted := map[string][]byte{}, map[string][]byte{}
	s := p.ours
	for round := range 3 {
		if round > 0 {
			s = startServer(t, p.ourData, p.ourConfig)
		}
		var acc, att map[string][]byte
		killAt := killDuring(s, 300*time.Millisecond, time.Second, func() {
			acc, att = load(s.addr("smtp"), fmt.Sprintf("r%d", round), "alice@example.test", 5, 40)
		})
		maps.Copy(accepted, acc)
		maps.Copy(attempted, att)
		t.Logf("round %d: killed after %v; %d accepted of %d attempted", round, killAt, len(acc), len(att))
	}
	s = startServer(t, p.ourData, p.ourConfig)
	waitFor(t, 120*time.Second, "the intake spool to drain", func() bool { return inboundDepth(t, s) == 0 })
	p.remote = startServer(t, p.remoteData, p.remoteConfig)
	seen := func() map[string]int {
		ids := map[string]int{}
		for _, raw := range stored(t, p.remote, "bob@remote.test", "bob-password-1", "INBOX") {
			if m := messageID.FindSubmatch(raw); m != nil {
				ids[string(m[1])]++
			}
		}
		return ids
	}
	waitFor(t, 120*time.Second, "every accepted message at the remote", func() bool {
		got := seen()
		for id := range accepted {
			if got[id] == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * time.Second)
	got := seen()
	for id, n := range got {
		if _, ok := attempted[id]; !ok {
			t.Errorf("the remote got %s, never sent", id)
		}
		if n > 1 {
			t.Errorf("the remote got %s %d times", id, n)
		}
	}
	checkExactlyOnceIn(t, s, "alice@example.test", "alice-password-1", "Copies", accepted, attempted)
	t.Logf("%d accepted, each redirected to the remote once (%d there, %d attempted); the last restart replayed %d redirects",
		len(accepted), len(got), len(attempted), strings.Count(s.log(), `msg="sieve redirect" `)-strings.Count(s.log(), "replay=false"))
}
