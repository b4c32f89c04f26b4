package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-smtp"

	"casella/internal/resolver/dnstest"
)

// A remote MX that is not ready: one recipient is answered 451 and later
// 550, the other 451 until the message expires. Casella retries both,
// tells the sender of the delay once, and then returns each message with
// a failure DSN; every DSN parses as RFC 3464 with go-message, with the
// Action, Status, Final-Recipient and Diagnostic-Code of what happened.
func TestRetryDelayAndBounce(t *testing.T) {
	mx := startScriptedMX(t)
	dns := dnstest.Start(t,
		"remote.test. 300 IN MX 10 mx.remote.test.",
		"mx.remote.test. 300 IN A 127.0.0.1",
	)
	_, port, _ := net.SplitHostPort(mx.addr)
	data, config := newData(t, "")
	setConfig(t, config, "smtp", fmt.Sprintf(`resolvers = [%q]
delivery_port = %s
retry_min = "1s"
retry_max = "1s"
delay_warning = "3s"
queue_lifetime = "10s"`, dns.Addr, port))
	s := startServer(t, data, config)
	setupAccount(t, s, "alice@example.test", "alice-password-1")

	for _, rcpt := range []string{"moved@remote.test", "busy@remote.test"} {
		msg := testMessage("retry-"+rcpt[:strings.IndexByte(rcpt, '@')], "alice@example.test", rcpt, "Are you there?")
		smtplibSend(t, pyJob{Port: s.port("submission"), StartTLS: true, User: "alice@example.test", Password: "alice-password-1",
			Messages: []pyMessage{{From: "alice@example.test", To: []string{rcpt}, Data: b64(msg)}}})
	}
	// The delay notices come after 3 s of 451s; then moved@ is gone.
	waitFor(t, 30*time.Second, "two delay notices", func() bool {
		return len(stored(t, s, "alice@example.test", "alice-password-1", "INBOX")) >= 2
	})
	mx.setReply("moved@remote.test", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 6}, Message: "Mailbox has moved"})
	var got [][]byte
	waitFor(t, 30*time.Second, "two failure DSNs", func() bool {
		got = stored(t, s, "alice@example.test", "alice-password-1", "INBOX")
		return len(got) >= 4
	})
	time.Sleep(2 * time.Second)
	if got = stored(t, s, "alice@example.test", "alice-password-1", "INBOX"); len(got) != 4 {
		t.Fatalf("the sender has %d messages, want 2 delay notices and 2 failure DSNs", len(got))
	}
	reports := map[string]dsnFields{}
	for _, m := range got {
		f := parseDSN(t, m)
		reports[f.action+" "+f.finalRecipient] = f
	}
	want := []dsnFields{
		{action: "delayed", finalRecipient: "rfc822; moved@remote.test", status: "4.3.2", diagnostic: "smtp; 451 Not yet"},
		{action: "delayed", finalRecipient: "rfc822; busy@remote.test", status: "4.3.2", diagnostic: "smtp; 451 Not yet"},
		{action: "failed", finalRecipient: "rfc822; moved@remote.test", status: "5.1.6", diagnostic: "smtp; 550 Mailbox has moved"},
		{action: "failed", finalRecipient: "rfc822; busy@remote.test", status: "4.4.7", diagnostic: "smtp; 451 Not yet"},
	}
	for _, w := range want {
		f, ok := reports[w.action+" "+w.finalRecipient]
		if !ok {
			t.Errorf("no DSN with Action %s for %s; got %v", w.action, w.finalRecipient, reports)
			continue
		}
		if f.status != w.status || f.diagnostic != w.diagnostic || !f.returned {
			t.Errorf("DSN %s for %s: Status %q, Diagnostic-Code %q, header returned %v; want %q, %q, true",
				w.action, w.finalRecipient, f.status, f.diagnostic, f.returned, w.status, w.diagnostic)
		}
	}
	// Retried: several attempts each, at least a second apart.
	for _, rcpt := range []string{"moved@remote.test", "busy@remote.test"} {
		if n := mx.attempts(rcpt); n < 3 {
			t.Errorf("%s was tried %d times, want retries", rcpt, n)
		}
	}
	if n := mx.delivered(); n != 0 {
		t.Errorf("the MX took %d messages, want none", n)
	}
}

// dsnFields are the RFC 3464 fields the test checks.
type dsnFields struct {
	action, finalRecipient, status, diagnostic string
	returned                                   bool // a text/rfc822-headers part
}

// parseDSN reads a multipart/report (RFC 6522) of report-type
// delivery-status and its one per-recipient block (RFC 3464 section 2).
func parseDSN(t *testing.T, raw []byte) dsnFields {
	t.Helper()
	_, body := traceSplit(t, raw)
	e, err := message.Read(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("DSN: %v\n%s", err, raw)
	}
	mt, params, _ := e.Header.ContentType()
	if mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("DSN is %s %v, want multipart/report with report-type delivery-status", mt, params)
	}
	mr := e.MultipartReader()
	var f dsnFields
	var kinds []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("DSN part: %v", err)
		}
		pt, _, _ := p.Header.ContentType()
		kinds = append(kinds, pt)
		switch pt {
		case "message/delivery-status":
			br := bufio.NewReader(p.Body)
			perMessage, err := textproto.ReadHeader(br)
			if err != nil || perMessage.Get("Reporting-MTA") == "" {
				t.Fatalf("DSN per-message fields: %v %v", err, perMessage)
			}
			rcpt, err := textproto.ReadHeader(br)
			if err != nil {
				t.Fatalf("DSN per-recipient fields: %v", err)
			}
			f.action, f.finalRecipient = rcpt.Get("Action"), rcpt.Get("Final-Recipient")
			f.status, f.diagnostic = rcpt.Get("Status"), rcpt.Get("Diagnostic-Code")
		case "text/rfc822-headers":
			h, _ := io.ReadAll(p.Body)
			f.returned = bytes.Contains(h, []byte("Message-ID: <retry-"))
		}
	}
	if len(kinds) < 2 || kinds[0] != "text/plain" || kinds[1] != "message/delivery-status" {
		t.Fatalf("DSN parts %v, want text/plain then message/delivery-status", kinds)
	}
	return f
}

// scriptedMX is an SMTP server (go-smtp) answering RCPT TO as the test
// says, 451 by default, and counting the attempts.
type scriptedMX struct {
	addr string

	mu       sync.Mutex
	replies  map[string]error
	tries    map[string]int
	accepted int
}

func startScriptedMX(t *testing.T) *scriptedMX {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mx := &scriptedMX{addr: l.Addr().String(), replies: map[string]error{}, tries: map[string]int{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &scriptedSession{mx: mx}, nil }))
	srv.Domain = "mx.remote.test"
	srv.ErrorLog = nopLogger{}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return mx
}

func (mx *scriptedMX) setReply(rcpt string, err error) {
	mx.mu.Lock()
	defer mx.mu.Unlock()
	mx.replies[rcpt] = err
}

func (mx *scriptedMX) attempts(rcpt string) int {
	mx.mu.Lock()
	defer mx.mu.Unlock()
	return mx.tries[rcpt]
}

func (mx *scriptedMX) delivered() int {
	mx.mu.Lock()
	defer mx.mu.Unlock()
	return mx.accepted
}

type scriptedSession struct{ mx *scriptedMX }

func (s *scriptedSession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *scriptedSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.mx.mu.Lock()
	defer s.mx.mu.Unlock()
	s.mx.tries[to]++
	if err, ok := s.mx.replies[to]; ok {
		return err
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Not yet"}
}

func (s *scriptedSession) Data(r io.Reader) error {
	io.Copy(io.Discard, r)
	s.mx.mu.Lock()
	defer s.mx.mu.Unlock()
	s.mx.accepted++
	return nil
}

func (s *scriptedSession) Reset()        {}
func (s *scriptedSession) Logout() error { return nil }

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

// Over smtp.destination_messages_per_minute the queue holds the rest of a
// destination's mail for a later attempt, and /metrics counts each hold.
func TestDestinationRateLimit(t *testing.T) {
	mx := startScriptedMX(t)
	dns := dnstest.Start(t,
		"remote.test. 300 IN MX 10 mx.remote.test.",
		"mx.remote.test. 300 IN A 127.0.0.1",
	)
	_, port, _ := net.SplitHostPort(mx.addr)
	data, config := newData(t, "")
	setConfig(t, config, "smtp", fmt.Sprintf(`resolvers = [%q]
delivery_port = %s
destination_messages_per_minute = 2
retry_min = "1s"
retry_max = "1s"`, dns.Addr, port))
	s := startServer(t, data, config)
	setupAccount(t, s, "alice@example.test", "alice-password-1")
	var msgs []pyMessage
	for i := range 4 {
		rcpt := fmt.Sprintf("r%d@remote.test", i)
		mx.setReply(rcpt, nil)
		msgs = append(msgs, pyMessage{From: "alice@example.test", To: []string{rcpt}, Data: b64(testMessage(fmt.Sprintf("rate-%d", i), "alice@example.test", rcpt, "One of four."))})
	}
	smtplibSend(t, pyJob{Port: s.port("submission"), StartTLS: true, User: "alice@example.test", Password: "alice-password-1", Messages: msgs})

	held := regexp.MustCompile(`(?m)^casella_refusals_total\{protocol="outbound",reason="destination_rate"\} (\d+)$`)
	waitFor(t, 30*time.Second, "held messages counted in /metrics", func() bool {
		m := held.FindStringSubmatch(metricsText(t, s))
		if m == nil {
			return false
		}
		n, _ := strconv.Atoi(m[1])
		return n >= 2
	})
	// Two a minute: the first two went at once, the next waits 30 s.
	if n := mx.delivered(); n != 2 {
		t.Fatalf("the MX took %d messages, want 2 within the limit", n)
	}
}

// metricsText returns the server's /metrics page.
func metricsText(t *testing.T, s *server) string {
	t.Helper()
	resp, err := http.Get("http://" + s.addr("http") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}
