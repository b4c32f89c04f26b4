package smtp

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/spool"
	"casella/internal/srs"
)

// REQUIRETLS (RFC 8689 section 4.1) is offered and taken over TLS only,
// and reaches the envelope of the outbound queue.
func TestRequireTLSSubmission(t *testing.T) {
	e := newTestEnv(t, nil)
	rc := dialRaw(t, e.submission)
	if r := rc.cmd("EHLO client.test", "250"); strings.Contains(r, "REQUIRETLS") {
		t.Errorf("REQUIRETLS offered without TLS: %q", r)
	}
	rc.startTLS()
	if r := rc.cmd("EHLO client.test", "250"); !strings.Contains(r, "REQUIRETLS") {
		t.Errorf("REQUIRETLS not offered over TLS: %q", r)
	}
	b64 := base64.StdEncoding.EncodeToString
	rc.cmd("AUTH PLAIN "+b64([]byte("\x00alice@example.test\x00alice-pw")), "235")
	rc.cmd("MAIL FROM:<alice@example.test> REQUIRETLS", "250")
	rc.cmd("RCPT TO:<friend@remote.test>", "250")
	rc.cmd("DATA", "354")
	rc.send(testMsg + ".\r\n")
	rc.expect("250")
	rc.cmd("MAIL FROM:<alice@example.test>", "250")
	rc.cmd("RCPT TO:<friend@remote.test>", "250")
	rc.cmd("DATA", "354")
	rc.send(testMsg + ".\r\n")
	rc.expect("250")
	if q := e.outbound.all(); len(q) != 2 || !q[0].env.RequireTLS || q[1].env.RequireTLS {
		t.Fatalf("outbound envelopes %+v, want REQUIRETLS on the first only", q)
	}

	// Sent over plain text anyway, it is refused.
	mx := dialRaw(t, e.mx)
	mx.cmd("EHLO client.test", "250")
	mx.cmd("MAIL FROM:<x@remote.test> REQUIRETLS", "530 5.7.10")
}

// requireTLSPeer is an exchanger that records whether each message came
// with REQUIRETLS.
type requireTLSPeer struct {
	mu  sync.Mutex
	got []bool
}

type requireTLSSession struct {
	p *requireTLSPeer
}

func (s *requireTLSSession) Mail(from string, opts *gosmtp.MailOptions) error {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.p.got = append(s.p.got, opts != nil && opts.RequireTLS)
	return nil
}
func (s *requireTLSSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (s *requireTLSSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (s *requireTLSSession) Reset()        {}
func (s *requireTLSSession) Logout() error { return nil }

func startRequireTLSPeer(t *testing.T, l net.Listener, host string, offer bool) (*requireTLSPeer, *x509.Certificate) {
	t.Helper()
	cfg, cert := selfSignedFor(t, host)
	p := &requireTLSPeer{}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		return &requireTLSSession{p: p}, nil
	}))
	srv.Domain, srv.TLSConfig, srv.EnableREQUIRETLS = host, cfg, offer
	srv.ErrorLog = errorLog{discardLogger()}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return p, cert
}

// A REQUIRETLS message goes only to an exchanger DNSSEC vouches for, over
// TLS verified by its TLSA record or its certificate, which takes
// REQUIRETLS in turn; otherwise it fails for good with 5.7.30, where a
// message without REQUIRETLS goes through.
func TestDirectRequireTLS(t *testing.T) {
	ls, port := listenAll(t, "127.0.0.2", "127.0.0.3", "127.0.0.4")
	dane, cert := startRequireTLSPeer(t, ls[0], "mx.secure.test", true)
	pkix, pkixCert := startRequireTLSPeer(t, ls[1], "mx.pkix.test", true)
	old, oldCert := startRequireTLSPeer(t, ls[2], "mx.old.test", false)
	d, dnsSrv := testDirect(t, port,
		"secure.test. 300 IN MX 10 mx.secure.test.",
		"mx.secure.test. 300 IN A 127.0.0.2",
		"_25._tcp.mx.secure.test. 300 IN TLSA 3 1 1 "+spkiSHA256(cert),
		"pkix.test. 300 IN MX 10 mx.pkix.test.",
		"mx.pkix.test. 300 IN A 127.0.0.3",
		"old.test. 300 IN MX 10 mx.old.test.",
		"mx.old.test. 300 IN A 127.0.0.4",
		"unsigned.test. 300 IN MX 10 mx.unsigned.test.",
		"mx.unsigned.test. 300 IN A 127.0.0.2",
	)
	for _, zone := range []string{"secure.test", "pkix.test", "old.test"} {
		dnsSrv.Sign(zone)
	}
	d.RootCAs = x509.NewCertPool()
	d.RootCAs.AddCert(pkixCert)
	d.RootCAs.AddCert(oldCert)
	ctx := context.Background()
	msg := []byte(testMsg)

	if _, err := d.DeliverRequireTLS(ctx, "a@example.test", "b@secure.test", msg); err != nil {
		t.Fatalf("DANE exchanger with REQUIRETLS: %v", err)
	}
	if _, err := d.DeliverRequireTLS(ctx, "a@example.test", "b@pkix.test", msg); err != nil {
		t.Fatalf("DNSSEC exchanger with a valid certificate: %v", err)
	}
	for _, to := range []string{"b@old.test", "b@unsigned.test"} {
		_, err := d.DeliverRequireTLS(ctx, "a@example.test", to, msg)
		var se *gosmtp.SMTPError
		if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (gosmtp.EnhancedCode{5, 7, 30}) {
			t.Errorf("REQUIRETLS to %s: %v, want 550 5.7.30", to, err)
		}
	}
	// With REQUIRETLS, "TLS-Required: No" is ignored (RFC 8689 section 5).
	_, err := d.DeliverRequireTLS(ctx, "a@example.test", "b@unsigned.test", []byte("TLS-Required: No\r\n"+testMsg))
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || se.EnhancedCode != (gosmtp.EnhancedCode{5, 7, 30}) {
		t.Errorf("REQUIRETLS with TLS-Required: No to an unsigned domain: %v, want 5.7.30", err)
	}
	// Without REQUIRETLS, the same exchangers take the message.
	if _, err := d.Deliver(ctx, "a@example.test", "b@old.test", msg); err != nil {
		t.Fatalf("without REQUIRETLS: %v", err)
	}
	if _, err := d.Deliver(ctx, "a@example.test", "b@unsigned.test", msg); err != nil {
		t.Fatalf("unsigned, without REQUIRETLS: %v", err)
	}
	for _, c := range []struct {
		name string
		p    *requireTLSPeer
		want []bool
	}{{"dane", dane, []bool{true, false}}, {"pkix", pkix, []bool{true}}, {"old", old, []bool{false}}} {
		c.p.mu.Lock()
		got := append([]bool(nil), c.p.got...)
		c.p.mu.Unlock()
		if !slices.Equal(got, c.want) {
			t.Errorf("%s exchanger got MAIL with REQUIRETLS %v, want %v", c.name, got, c.want)
		}
	}
}

// The smarthost path: a REQUIRETLS message is refused for good when the
// smarthost is reached in plain text or does not take REQUIRETLS.
func TestRelayRequireTLS(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := selfSignedFor(t, "localhost")
	h := startSMTPPeer(t, l, cfg, false)
	r, _ := testRelay(h, "none")
	e := outboundEntry("friend@remote.test")
	e.Envelope.RequireTLS = true
	err = r.Handle(context.Background(), e, []byte(testMsg), 0)
	var se *gosmtp.SMTPError
	if !errors.Is(err, spool.ErrPermanent) || !errors.As(err, &se) || se.EnhancedCode != (gosmtp.EnhancedCode{5, 7, 30}) {
		t.Fatalf("REQUIRETLS through a plain-text smarthost: %v, want a permanent 5.7.30", err)
	}
	// Over TLS, a smarthost that does not take REQUIRETLS is refused too.
	r, _ = testRelay(h, "starttls")
	err = r.Handle(context.Background(), e, []byte(testMsg), 0)
	if !errors.Is(err, spool.ErrPermanent) || !errors.As(err, &se) || se.EnhancedCode != (gosmtp.EnhancedCode{5, 7, 30}) {
		t.Fatalf("REQUIRETLS through a smarthost without it: %v, want a permanent 5.7.30", err)
	}
	if n := len(h.received()); n != 0 {
		t.Fatalf("the smarthost received %d messages, want none", n)
	}
}

// The delay notice and the failure DSN of a message sent with REQUIRETLS
// carry its header, and go on with REQUIRETLS in turn (RFC 8689 section
// 5): to a local sender and, for a forwarded message, to its original
// sender elsewhere. Those of other messages go without it.
func TestRequireTLSDSN(t *testing.T) {
	rw := &srs.Rewriter{Secrets: [][]byte{[]byte("secret")}}
	forwarded, err := rw.Forward("carol@remote.example", "example.test")
	if err != nil {
		t.Fatal(err)
	}
	cause := &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "greylisted"}
	for _, from := range []string{"alice@example.test", forwarded} {
		for _, requireTLS := range []bool{true, false} {
			bounces, forwards := &recorder{}, &recorder{}
			r := &Relay{Hostname: "mx.example.test", Lifetime: time.Hour, Logger: discardLogger(),
				Bounce: bounces, Forward: forwards, SRS: rw, Directory: newTestDirectory()}
			e := outboundEntry("friend@remote.test")
			e.Envelope.From, e.Envelope.RequireTLS = from, requireTLS
			for _, delayed := range []bool{true, false} {
				if err := r.notify(context.Background(), e, []byte("TLS-Required: No\r\n"+testMsg), 0, cause, delayed); err != nil {
					t.Fatal(err)
				}
			}
			got, other := bounces.all(), forwards.all()
			if from == forwarded {
				got, other = other, got
			}
			if len(got) != 2 || len(other) != 0 {
				t.Fatalf("from %s: %d notices where expected, %d elsewhere", from, len(got), len(other))
			}
			for _, m := range got {
				if m.env.RequireTLS != requireTLS || m.env.From != "" {
					t.Errorf("from %s, REQUIRETLS %v: notice queued with %+v", from, requireTLS, m.env)
				}
				// The returned header, not the body (RET=HDRS), and the
				// original's "TLS-Required: No" does not become the notice's.
				if bytes.Contains(m.data, []byte("Hello")) || tlsNotRequired(m.data) {
					t.Errorf("notice returns the body or is not TLS-required:\n%s", m.data)
				}
			}
		}
	}
}
