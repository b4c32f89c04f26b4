package smtp

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"casella/internal/limit"
	"casella/internal/mailauth"
	"casella/internal/resolver"
	"casella/internal/resolver/dnstest"
	"casella/internal/spool"
	"casella/internal/tlsconf"
)

// exchangers starts one SMTP peer per loopback address given, all on the
// same port as mail exchangers share port 25, and returns them with that
// port. Peers at even positions offer STARTTLS.
func exchangers(t *testing.T, ips ...string) ([]*smarthost, string) {
	t.Helper()
	tlsCfg, err := tlsconf.Load("", "", t.TempDir(), "mx.remote.test")
	if err != nil {
		t.Fatal(err)
	}
	ls, port := listenAll(t, ips...)
	var peers []*smarthost
	for i, l := range ls {
		cfg := tlsCfg
		if i%2 == 1 {
			cfg = nil
		}
		peers = append(peers, startSMTPPeer(t, l, cfg, false))
	}
	return peers, port
}

// listenAll listens on one port on every loopback address given, holding
// each listener from the moment it is found free, and returns them with
// the port.
func listenAll(t *testing.T, ips ...string) ([]net.Listener, string) {
	t.Helper()
	for range 20 {
		first, err := net.Listen("tcp", ips[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(first.Addr().String())
		ls := []net.Listener{first}
		for _, ip := range ips[1:] {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, port))
			if err != nil {
				break
			}
			ls = append(ls, l)
		}
		if len(ls) == len(ips) {
			return ls, port
		}
		for _, l := range ls {
			l.Close()
		}
	}
	t.Fatal("no port free on every loopback address")
	return nil, ""
}

func testDirect(t *testing.T, port string, records ...string) (*Direct, *dnstest.Server) {
	dnsSrv := dnstest.Start(t, records...)
	d := &Direct{
		Resolver: &resolver.Resolver{Servers: []string{dnsSrv.Addr}},
		Port:     port,
		Hostname: "out.example.test",
		Timeout:  30 * time.Second,
		Logger:   discardLogger(),
	}
	t.Cleanup(d.Close)
	return d, dnsSrv
}

func (h *smarthost) received() []queued {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]queued(nil), h.got...)
}

// The exchanger of lowest preference takes the mail; when it fails
// temporarily the next one does (RFC 5321 section 5.1).
func TestDirectPreferenceOrder(t *testing.T) {
	peers, port := exchangers(t, "127.0.0.2", "127.0.0.3")
	d, _ := testDirect(t, port,
		"remote.test. 300 IN MX 20 mx2.remote.test.",
		"remote.test. 300 IN MX 10 mx1.remote.test.",
		"mx1.remote.test. 300 IN A 127.0.0.2",
		"mx2.remote.test. 300 IN A 127.0.0.3",
	)
	ctx := context.Background()
	host, err := d.Deliver(ctx, "alice@example.test", "bob@remote.test", []byte(testMsg))
	if err != nil || host != "mx1.remote.test" {
		t.Fatalf("Deliver = %q, %v; want mx1", host, err)
	}
	if got := peers[0].received(); len(got) != 1 || !bytes.Equal(got[0].data, []byte(testMsg)) || got[0].env.From != "alice@example.test" {
		t.Fatalf("mx1 received %+v", got)
	}

	peers[0].mu.Lock()
	peers[0].fail = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "greylisted"}
	peers[0].mu.Unlock()
	host, err = d.Deliver(ctx, "alice@example.test", "bob@remote.test", []byte(testMsg))
	if err != nil || host != "mx2.remote.test" {
		t.Fatalf("Deliver with mx1 failing = %q, %v; want mx2", host, err)
	}
	if n := len(peers[1].received()); n != 1 {
		t.Fatalf("mx2 received %d messages, want 1", n)
	}

	// A 5xx is final: the next exchanger is not asked.
	peers[0].mu.Lock()
	peers[0].fail = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	peers[0].mu.Unlock()
	_, err = d.Deliver(ctx, "alice@example.test", "nobody@remote.test", []byte(testMsg))
	if !isPermanent(err) {
		t.Fatalf("Deliver refused with 550 = %v, want a permanent error", err)
	}
	if n := len(peers[1].received()); n != 1 {
		t.Fatalf("mx2 received %d messages after a 550 from mx1, want still 1", n)
	}
}

// Several messages to one exchanger share one connection, over STARTTLS
// when offered, and in plain text when not.
func TestDirectReusesConnections(t *testing.T) {
	peers, port := exchangers(t, "127.0.0.2", "127.0.0.3")
	d, _ := testDirect(t, port,
		"tls.test. 300 IN MX 10 mx.tls.test.",
		"mx.tls.test. 300 IN A 127.0.0.2",
		"plain.test. 300 IN MX 10 mx.plain.test.",
		"mx.plain.test. 300 IN A 127.0.0.3",
	)
	for i := range 5 {
		for _, domain := range []string{"tls.test", "plain.test"} {
			if _, err := d.Deliver(context.Background(), "alice@example.test", fmt.Sprintf("u%d@%s", i, domain), []byte(testMsg)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, p := range peers {
		p.mu.Lock()
		conns, tls, got := len(p.conns), p.tls, len(p.got)
		p.mu.Unlock()
		// Without STARTTLS on offer the first connection only learns so.
		wantConns, wantTLS := 1, 5
		if i == 1 {
			wantConns, wantTLS = 2, 0
		}
		if conns != wantConns || got != 5 || tls != wantTLS {
			t.Errorf("peer %d: %d connections, %d messages, %d over TLS; want %d, 5, %d", i, conns, got, tls, wantConns, wantTLS)
		}
	}
}

// Over a destination's rate limit a message is held back with a
// temporary error, counted as a refusal, while other destinations go on.
func TestDirectDestinationRate(t *testing.T) {
	peers, port := exchangers(t, "127.0.0.2")
	d, _ := testDirect(t, port,
		"busy.test. 300 IN MX 10 mx.busy.test.",
		"mx.busy.test. 300 IN A 127.0.0.2",
		"other.test. 300 IN MX 10 mx.busy.test.",
	)
	d.Rate = limit.NewRate(2, time.Minute)
	var refused []string
	d.Refused = func(reason string) { refused = append(refused, reason) }
	ctx := context.Background()
	for i := range 3 {
		_, err := d.Deliver(ctx, "alice@example.test", fmt.Sprintf("u%d@busy.test", i), []byte(testMsg))
		switch {
		case i < 2 && err != nil:
			t.Fatalf("message %d: %v", i, err)
		case i == 2 && (err == nil || isPermanent(err) || !errors.Is(err, errDestinationRate)):
			t.Fatalf("message over the limit: %v, want a temporary error naming the limit", err)
		}
	}
	if _, err := d.Deliver(ctx, "alice@example.test", "u@other.test", []byte(testMsg)); err != nil {
		t.Fatalf("another destination: %v", err)
	}
	if got := len(peers[0].received()); got != 3 || len(refused) != 1 || refused[0] != "destination_rate" {
		t.Fatalf("the exchanger got %d messages, refusals %v; want 3 and one destination_rate", got, refused)
	}
}

// A domain without MX records receives at its own address (the implicit
// MX of RFC 5321 section 5.1).
func TestDirectImplicitMX(t *testing.T) {
	peers, port := exchangers(t, "127.0.0.2")
	d, _ := testDirect(t, port, "bare.test. 300 IN A 127.0.0.2")
	if host, err := d.Deliver(context.Background(), "alice@example.test", "bob@bare.test", []byte(testMsg)); err != nil || host != "bare.test" {
		t.Fatalf("Deliver = %q, %v", host, err)
	}
	if n := len(peers[0].received()); n != 1 {
		t.Fatalf("received %d", n)
	}
}

// What DNS says decides between a bounce and a retry: a null MX or a
// domain that does not exist is final, a resolver that fails is not.
func TestDirectDNSOutcomes(t *testing.T) {
	_, port := exchangers(t, "127.0.0.2")
	d, dnsSrv := testDirect(t, port,
		"null.test. 300 IN MX 0 .",
		"broken.test. 300 IN MX 10 mx.broken.test.",
		"noaddr.test. 300 IN MX 10 mx.noaddr.test.",
		"mx.noaddr.test. 300 IN TXT \"no address\"",
		"down.test. 300 IN MX 10 mx.down.test.",
		"mx.down.test. 300 IN A 127.0.0.9",
	)
	dnsSrv.Fail("broken.test", dns.RcodeServerFailure)
	tests := []struct {
		rcpt   string
		status string // enhanced status of a permanent failure; "" for temporary
	}{
		{"a@null.test", "5.1.10"},
		{"a@nxdomain.test", "5.1.2"},
		{"a@broken.test", ""},
		{"a@noaddr.test", ""},
		{"a@down.test", ""},
	}
	for _, tt := range tests {
		_, err := d.Deliver(context.Background(), "alice@example.test", tt.rcpt, []byte(testMsg))
		var se *gosmtp.SMTPError
		switch {
		case err == nil:
			t.Errorf("%s: delivered", tt.rcpt)
		case tt.status == "" && isPermanent(err):
			t.Errorf("%s: %v, want a temporary error", tt.rcpt, err)
		case tt.status != "" && (!errors.As(err, &se) || se.Code < 500 || fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2]) != tt.status):
			t.Errorf("%s: %v, want a permanent error with status %s", tt.rcpt, err, tt.status)
		}
	}
}

// The relay bounces a null MX with the status RFC 7505 gives it, and
// keeps mail for a domain whose DNS fails.
func TestRelayDirect(t *testing.T) {
	peers, port := exchangers(t, "127.0.0.2")
	d, dnsSrv := testDirect(t, port,
		"remote.test. 300 IN MX 10 mx.remote.test.",
		"mx.remote.test. 300 IN A 127.0.0.2",
		"null.test. 300 IN MX 0 .",
	)
	dnsSrv.Fail("broken.test", dns.RcodeServerFailure)
	bounces := &recorder{}
	r := &Relay{Direct: d, Hostname: "out.example.test", Logger: discardLogger(), Bounce: bounces, Directory: newTestDirectory()}
	e := outboundEntry("friend@remote.test", "x@null.test", "y@broken.test")
	ctx := context.Background()
	if err := r.Handle(ctx, e, []byte(testMsg), 0); err != nil {
		t.Fatal(err)
	}
	if n := len(peers[0].received()); n != 1 {
		t.Fatalf("exchanger received %d", n)
	}
	err := r.Handle(ctx, e, []byte(testMsg), 1)
	if !errors.Is(err, spool.ErrPermanent) {
		t.Fatalf("null MX: %v, want ErrPermanent", err)
	}
	if err := r.SendBounce(ctx, e, []byte(testMsg), 1, err); err != nil {
		t.Fatal(err)
	}
	if dsn := bounces.all(); len(dsn) != 1 || !bytes.Contains(dsn[0].data, []byte("Status: 5.1.10")) {
		t.Fatalf("DSN for a null MX: %+v, want one with Status: 5.1.10", dsn)
	}
	if err := r.Handle(ctx, e, []byte(testMsg), 2); err == nil || errors.Is(err, spool.ErrPermanent) || !strings.Contains(err.Error(), "broken.test") {
		t.Fatalf("SERVFAIL: %v, want a temporary error naming the domain", err)
	}
}

// A recipient still failing after hours gets its sender a delay notice
// (RFC 3464 Action: delayed) saying until when the queue keeps trying.
func TestRelayDelayNotice(t *testing.T) {
	bounces := &recorder{}
	r := &Relay{Hostname: "mx.example.test", Lifetime: 120 * time.Hour, Logger: discardLogger(), Bounce: bounces, Directory: newTestDirectory()}
	e := outboundEntry("friend@remote.test")
	cause := &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "greylisted"}
	if err := r.notify(context.Background(), e, []byte(testMsg), 0, cause, true); err != nil {
		t.Fatal(err)
	}
	msgs := bounces.all()
	if len(msgs) != 1 {
		t.Fatalf("%d notices", len(msgs))
	}
	until := e.Envelope.Received.Add(120 * time.Hour).Format(time.RFC1123Z)
	for _, want := range []string{"Subject: Delayed Mail", "Action: delayed", "Status: 4.3.0", "Diagnostic-Code: smtp; 451 greylisted", "Will-Retry-Until: " + until, "Message-ID: <delay-"} {
		if !bytes.Contains(msgs[0].data, []byte(want)) {
			t.Errorf("delay notice lacks %q:\n%s", want, msgs[0].data)
		}
	}
}

// A message given up at the end of the queue's lifetime is returned with
// Status 4.4.7 (RFC 3463 section 3.5, delivery time expired), and the
// last attempt's reply as its Diagnostic-Code; a 5xx reply keeps its own
// status.
func TestRelayExpiredDSN(t *testing.T) {
	bounces := &recorder{}
	r := &Relay{Hostname: "mx.example.test", Lifetime: 120 * time.Hour, Logger: discardLogger(), Bounce: bounces, Directory: newTestDirectory()}
	e := outboundEntry("friend@remote.test")
	last := &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "greylisted"}
	expired := fmt.Errorf("gave up: %w, %w: %w", spool.ErrExpired, spool.ErrPermanent, last)
	refused := fmt.Errorf("%w: %w", spool.ErrPermanent, &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	for _, cause := range []error{expired, refused} {
		if err := r.notify(context.Background(), e, []byte(testMsg), 0, cause, false); err != nil {
			t.Fatal(err)
		}
	}
	msgs := bounces.all()
	if len(msgs) != 2 {
		t.Fatalf("%d DSNs", len(msgs))
	}
	for i, want := range [][]string{
		{"Action: failed", "Status: 4.4.7", "Diagnostic-Code: smtp; 451 greylisted"},
		{"Action: failed", "Status: 5.1.1", "Diagnostic-Code: smtp; 550 no such user"},
	} {
		for _, w := range want {
			if !bytes.Contains(msgs[i].data, []byte(w)) {
				t.Errorf("DSN %d lacks %q:\n%s", i, w, msgs[i].data)
			}
		}
	}
}

// A client on a blocklist gets 554 at EHLO and can send nothing; one the
// list does not name, or any client while the list is down, gets in.
func TestBlocklist(t *testing.T) {
	dnsSrv := dnstest.Start(t, "1.0.0.127.bl.test. 300 IN A 127.0.0.2")
	bl := &mailauth.DNSBL{Resolver: &resolver.Resolver{Servers: []string{dnsSrv.Addr}}, Zones: []string{"bl.test"}}
	e := newTestEnv(t, func(c *Config) { c.Blocklists = bl })
	rc := dialRaw(t, e.mx)
	rc.cmd("EHLO client.test", "554 5.7.1 Service unavailable; client [127.0.0.1] blocked using bl.test")
	rc.cmd("MAIL FROM:<a@b.test>", "502")

	dnsSrv.Fail("1.0.0.127.bl.test", dns.RcodeServerFailure)
	rc = dialRaw(t, e.mx)
	rc.cmd("EHLO client.test", "250")
}

// Past its limits a client address gets 450 at MAIL on the MX listener,
// and an account 450 at RCPT for other domains on submission; other
// addresses and local recipients are not held back.
func TestRateLimits(t *testing.T) {
	e := newTestEnv(t, func(c *Config) {
		c.MessageRate = limit.NewRate(2, time.Hour)
		c.SendRate = limit.NewRate(1, time.Hour)
	})
	rc := dialRaw(t, e.mx)
	rc.cmd("EHLO client.test", "250")
	for range 2 {
		rc.cmd("MAIL FROM:<a@remote.test>", "250")
		rc.cmd("RSET", "250")
	}
	rc.cmd("MAIL FROM:<a@remote.test>", "450 4.7.0")

	rc = dialRaw(t, e.submission)
	rc.cmd("EHLO client.test", "250")
	rc.startTLS()
	rc.cmd("EHLO client.test", "250")
	rc.cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00alice@example.test\x00alice-pw")), "235")
	rc.cmd("MAIL FROM:<alice@example.test>", "250")
	rc.cmd("RCPT TO:<x@remote.test>", "250")
	rc.cmd("RCPT TO:<y@remote.test>", "450 4.7.0")
	rc.cmd("RCPT TO:<bob@example.test>", "250")
}

// A remote's temporary failure defers the recipient: the queue's breaker,
// which guards our storage, does not count it.
func TestRelayTemporaryIsDeferred(t *testing.T) {
	_, port := exchangers(t, "127.0.0.2")
	d, _ := testDirect(t, port, "down.test. 300 IN MX 10 mx.down.test.", "mx.down.test. 300 IN A 127.0.0.9")
	r := &Relay{Direct: d, Hostname: "out.example.test", Logger: discardLogger()}
	err := r.Handle(context.Background(), outboundEntry("a@down.test"), []byte(testMsg), 0)
	if !errors.Is(err, spool.ErrDeferred) || errors.Is(err, spool.ErrPermanent) {
		t.Fatalf("Handle = %v, want a deferral", err)
	}
}
