package smtp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/spool"
	"casella/internal/tlsconf"
)

// smarthost is a real go-smtp server standing in for the provider's relay.
type smarthost struct {
	addr string
	mu   sync.Mutex
	got  []queued
	auth string
	// conns are the connections seen (go-smtp makes a session at each
	// EHLO, so several per connection with STARTTLS); tls counts the
	// messages received over TLS.
	conns map[*gosmtp.Conn]bool
	tls   int
	// fail, if set, answers every RCPT.
	fail *gosmtp.SMTPError
}

type smarthostSession struct {
	h    *smarthost
	conn *gosmtp.Conn
	from string
	to   []string
}

func (s *smarthostSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *smarthostSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != "relayuser" || password != "relaypw" {
			return gosmtp.ErrAuthFailed
		}
		s.h.mu.Lock()
		s.h.auth = username
		s.h.mu.Unlock()
		return nil
	}), nil
}
func (s *smarthostSession) Reset()        {}
func (s *smarthostSession) Logout() error { return nil }
func (s *smarthostSession) Mail(from string, _ *gosmtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *smarthostSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.h.mu.Lock()
	fail := s.h.fail
	s.h.mu.Unlock()
	switch {
	case fail != nil:
		return fail
	case strings.HasPrefix(to, "reject@"):
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user\x00 here"}
	case strings.HasPrefix(to, "later@"):
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	}
	s.to = append(s.to, to)
	return nil
}
func (s *smarthostSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.h.got = append(s.h.got, queued{spool.Envelope{From: s.from, Recipients: []spool.Recipient{{Address: s.to[0]}}}, b})
	if _, ok := s.conn.TLSConnectionState(); ok {
		s.h.tls++
	}
	s.to = nil
	return nil
}

func startSmarthost(t *testing.T, implicitTLS bool) *smarthost {
	t.Helper()
	tlsCfg, err := tlsconf.Load("", "", t.TempDir(), "localhost")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startSMTPPeer(t, l, tlsCfg, implicitTLS)
}

// startSMTPPeer starts a go-smtp server on l, offering STARTTLS (or
// implicit TLS) when tlsCfg is not nil.
func startSMTPPeer(t *testing.T, l net.Listener, tlsCfg *tls.Config, implicitTLS bool) *smarthost {
	t.Helper()
	h := &smarthost{conns: map[*gosmtp.Conn]bool{}}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		h.mu.Lock()
		h.conns[c] = true
		h.mu.Unlock()
		return &smarthostSession{h: h, conn: c}, nil
	}))
	srv.Domain = "smarthost.test"
	srv.TLSConfig = tlsCfg
	srv.ErrorLog = errorLog{discardLogger()}
	h.addr = l.Addr().String()
	if implicitTLS {
		go srv.Serve(tls.NewListener(l, tlsCfg))
	} else {
		go srv.Serve(l)
	}
	t.Cleanup(func() { srv.Close() })
	return h
}

func testRelay(h *smarthost, mode string) (*Relay, *recorder) {
	bounces := &recorder{}
	return &Relay{
		Smarthost: h.addr,
		Username:  "relayuser",
		Password:  "relaypw",
		TLSMode:   mode,
		TLSConfig: clientTLS(),
		Hostname:  "mx.example.test",
		Timeout:   30 * time.Second,
		Logger:    discardLogger(),
		Bounce:    bounces,
		Directory: newTestDirectory(),
	}, bounces
}

func outboundEntry(to ...string) *spool.Entry {
	e := &spool.Entry{ID: "0001", Envelope: spool.Envelope{From: "alice@example.test", Auth: "alice@example.test", Received: time.Now()}}
	for _, a := range to {
		e.Envelope.Recipients = append(e.Envelope.Recipients, spool.Recipient{Address: a})
	}
	return e
}

func TestRelayDelivers(t *testing.T) {
	for _, mode := range []string{"starttls", "tls"} {
		t.Run(mode, func(t *testing.T) {
			h := startSmarthost(t, mode == "tls")
			r, _ := testRelay(h, mode)
			e := outboundEntry("friend@remote.test", "other@remote.test")
			reply, err := r.HandleReply(context.Background(), e, []byte(testMsg), 1)
			if err != nil {
				t.Fatal(err)
			}
			// go-smtp's answer to the end of data, as it said it.
			if reply != "250 2.0.0 OK: queued" {
				t.Errorf("reply %q", reply)
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if len(h.got) != 1 || h.got[0].env.Recipients[0].Address != "other@remote.test" || h.got[0].env.From != "alice@example.test" || h.auth != "relayuser" {
				t.Fatalf("smarthost got %+v (auth %q)", h.got, h.auth)
			}
			if !bytes.Equal(h.got[0].data, []byte(testMsg)) {
				t.Fatalf("smarthost got %q, want %q", h.got[0].data, testMsg)
			}
		})
	}
}

func TestRelayFailures(t *testing.T) {
	h := startSmarthost(t, false)
	r, bounces := testRelay(h, "starttls")
	e := outboundEntry("later@remote.test", "reject@remote.test")

	err := r.Handle(context.Background(), e, []byte(testMsg), 0)
	if err == nil || errors.Is(err, spool.ErrPermanent) {
		t.Fatalf("451: %v, want a temporary error", err)
	}
	err = r.Handle(context.Background(), e, []byte(testMsg), 1)
	if !errors.Is(err, spool.ErrPermanent) {
		t.Fatalf("550: %v, want ErrPermanent", err)
	}

	if err := r.SendBounce(context.Background(), e, []byte(testMsg), 1, err); err != nil {
		t.Fatal(err)
	}
	msgs := bounces.all()
	if len(msgs) != 1 {
		t.Fatalf("%d DSNs", len(msgs))
	}
	env := msgs[0].env
	if env.From != "" || len(env.Recipients) != 1 || env.Recipients[0].Address != "alice@example.test" || env.Recipients[0].Account != 1 {
		t.Fatalf("DSN envelope %+v", env)
	}
	checkDSN(t, msgs[0].data, "reject@remote.test", "5.1.1")

	// Never bounce a bounce, nor to a sender with no mailbox here.
	e.Envelope.From = ""
	r.SendBounce(context.Background(), e, []byte(testMsg), 1, err)
	e.Envelope.From = "stranger@remote.test"
	r.SendBounce(context.Background(), e, []byte(testMsg), 1, err)
	if n := len(bounces.all()); n != 1 {
		t.Fatalf("%d DSNs after null and remote senders, want still 1", n)
	}

	// The directory down: the DSN is retried later, not dropped.
	r.Directory.(*testDirectory).setFail(errors.New("down"))
	e.Envelope.From = "alice@example.test"
	if err := r.SendBounce(context.Background(), e, []byte(testMsg), 1, err); err == nil {
		t.Fatal("SendBounce with the directory down returned nil")
	}
}

func TestRelayNoSmarthost(t *testing.T) {
	r := &Relay{Logger: discardLogger()}
	err := r.Handle(context.Background(), outboundEntry("friend@remote.test"), []byte(testMsg), 0)
	if err == nil || errors.Is(err, spool.ErrPermanent) || !strings.Contains(err.Error(), "no smarthost") {
		t.Fatalf("Handle without smarthost = %v", err)
	}
}

func TestRelayUnreachable(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	r := &Relay{Smarthost: addr, TLSMode: "none", Logger: discardLogger(), Timeout: 10 * time.Second}
	err := r.Handle(context.Background(), outboundEntry("friend@remote.test"), []byte(testMsg), 0)
	if err == nil || errors.Is(err, spool.ErrPermanent) {
		t.Fatalf("unreachable smarthost = %v, want temporary", err)
	}
}

// checkDSN parses a DSN and checks its parts (RFC 3464, RFC 6522).
func checkDSN(t *testing.T, data []byte, rcpt, status string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if from := m.Header.Get("From"); !strings.Contains(from, "MAILER-DAEMON@mx.example.test") {
		t.Errorf("From %q", from)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p)
		ct := p.Header.Get("Content-Type")
		types = append(types, strings.Fields(ct)[0])
		switch {
		case ct == "message/delivery-status":
			s := string(body)
			for _, want := range []string{"Reporting-MTA: dns; mx.example.test", "Final-Recipient: rfc822; " + rcpt, "Action: failed", "Status: " + status, "Diagnostic-Code: smtp; 550 no such user  here"} {
				if !strings.Contains(s, want) {
					t.Errorf("delivery-status lacks %q:\n%s", want, s)
				}
			}
		case ct == "text/rfc822-headers":
			if !strings.Contains(string(body), "Subject: hi") || strings.Contains(string(body), "Hello") {
				t.Errorf("returned headers %q", body)
			}
		}
	}
	if strings.Join(types, " ") != "text/plain; message/delivery-status text/rfc822-headers" {
		t.Errorf("parts %v", types)
	}
}
