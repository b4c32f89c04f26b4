package smtp

import (
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

func TestSubmissionNeedsTLSForAuth(t *testing.T) {
	e := newTestEnv(t, nil)
	rc := dialRaw(t, e.submission)
	ehlo := rc.cmd("EHLO client.test", "250")
	if strings.Contains(ehlo, "AUTH") || !strings.Contains(ehlo, "STARTTLS") {
		t.Fatalf("cleartext EHLO %q: want STARTTLS and no AUTH", ehlo)
	}
	cred := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.test\x00alice-pw"))
	rc.cmd("AUTH PLAIN "+cred, "538 5.7.11")
	rc.cmd("AUTH LOGIN", "538 5.7.11")
	rc.cmd("MAIL FROM:<alice@example.test>", "530 5.7.0")

	rc.startTLS()
	ehlo = rc.cmd("EHLO client.test", "250")
	if !strings.Contains(ehlo, "AUTH PLAIN LOGIN") {
		t.Fatalf("EHLO after TLS %q lacks AUTH PLAIN LOGIN", ehlo)
	}
	rc.cmd("MAIL FROM:<alice@example.test>", "530 5.7.0")
	rc.cmd("RCPT TO:<bob@example.test>", "50") // no transaction
	bad := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.test\x00wrong"))
	rc.cmd("AUTH PLAIN "+bad, "535 5.7.8")
	rc.cmd("AUTH PLAIN "+cred, "235")
	if n := len(e.spool.all()) + len(e.outbound.all()); n != 0 {
		t.Fatalf("%d messages", n)
	}
}

func TestSubmissionLoginAndSplit(t *testing.T) {
	e := newTestEnv(t, nil)
	rc := dialRaw(t, e.submission)
	rc.cmd("EHLO client.test", "250")
	rc.startTLS()
	rc.cmd("EHLO client.test", "250")
	b64 := base64.StdEncoding.EncodeToString
	rc.cmd("AUTH LOGIN", "334 "+b64([]byte("Username:")))
	rc.cmd(b64([]byte("alice@example.test")), "334 "+b64([]byte("Password:")))
	rc.cmd(b64([]byte("alice-pw")), "235")
	rc.cmd("MAIL FROM:<bob@example.test>", "553 5.7.1")
	rc.cmd("MAIL FROM:<>", "553 5.7.1")
	rc.cmd("MAIL FROM:<Alice+Shop@Example.TEST>", "250")
	rc.cmd("RCPT TO:<bob@example.test>", "250")
	rc.cmd("RCPT TO:<friend@remote.test>", "250")
	rc.cmd("RCPT TO:<nobody@example.test>", "550 5.1.1")
	rc.cmd("DATA", "354")
	rc.send(testMsg + ".\r\n")
	rc.expect("250 2.0.0")

	local, remote := e.spool.all(), e.outbound.all()
	if len(local) != 1 || len(remote) != 1 {
		t.Fatalf("%d local and %d remote messages, want 1 and 1", len(local), len(remote))
	}
	if rs := local[0].env.Recipients; len(rs) != 1 || rs[0].Address != "bob@example.test" || rs[0].Account != 2 {
		t.Errorf("local recipients %+v", rs)
	}
	if rs := remote[0].env.Recipients; len(rs) != 1 || rs[0].Address != "friend@remote.test" || rs[0].Account != 0 {
		t.Errorf("remote recipients %+v", rs)
	}
	for _, q := range []queued{local[0], remote[0]} {
		if q.env.Auth != "alice@example.test" || q.env.From != "Alice+Shop@Example.TEST" {
			t.Errorf("envelope %+v", q.env)
		}
		if hdr := splitReceived(t, q.data, storedBody); !strings.Contains(hdr, "with ESMTPSA id") {
			t.Errorf("Received %q", hdr)
		}
	}
}

func TestSubmissionImplicitTLS(t *testing.T) {
	e := newTestEnv(t, nil)
	c, err := gosmtp.DialTLS(e.submissions, clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "bob@example.test", "wrong")); err == nil {
		t.Fatal("wrong password accepted")
	} else if se := (*gosmtp.SMTPError)(nil); !errors.As(err, &se) || se.Code != 535 {
		t.Fatalf("wrong password: %v, want 535", err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "bob@example.test", "bob-pw")); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("bob@example.test", []string{"alice@example.test"}, strings.NewReader(testMsg)); err != nil {
		t.Fatal(err)
	}
	msgs := e.spool.all()
	if len(msgs) != 1 || msgs[0].env.Auth != "bob@example.test" {
		t.Fatalf("messages %+v", msgs)
	}
	splitReceived(t, msgs[0].data, testMsg)
}

func TestSubmissionDirectoryDown(t *testing.T) {
	e := newTestEnv(t, nil)
	c, err := gosmtp.DialStartTLS(e.submission, clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e.dir.setFail(errors.New("directory down"))
	err = c.Auth(sasl.NewPlainClient("", "bob@example.test", "bob-pw"))
	if se := (*gosmtp.SMTPError)(nil); !errors.As(err, &se) || se.Code != 454 {
		t.Fatalf("auth with the directory down: %v, want 454", err)
	}
}

func TestOwns(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"alice@example.test", true},
		{"ALICE@EXAMPLE.TEST", true},
		{"alice+x@example.test", true},
		{"alice+@example.test", true},
		{"alicex@example.test", false},
		{"+alice@example.test", false},
		{"alice@example.test.evil", false},
		{"alice@other.test", false},
		{"", false},
		{"@example.test", false},
	} {
		if got := owns("alice@example.test", tc.addr); got != tc.ok {
			t.Errorf("owns(alice, %q) = %v, want %v", tc.addr, got, tc.ok)
		}
	}
}

// syncBuffer is a log destination written by the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestSubmissionSessionLog: a submission session leaves its login and its
// end in the log.
func TestSubmissionSessionLog(t *testing.T) {
	var logs syncBuffer
	e := newTestEnv(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	c, err := gosmtp.DialTLS(e.submissions, clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "bob@example.test", "bob-pw")); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("bob@example.test", []string{"alice@example.test"}, strings.NewReader(testMsg)); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	end := regexp.MustCompile(`msg="submission session ended" remote=\S+ account=bob@example.test duration=\S+ in=\d+ out=\d+ commands=4 reason=`)
	for i := 0; !end.MatchString(logs.String()); i++ {
		if i == 100 {
			t.Fatalf("no line matching %s:\n%s", end, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // the line follows the close
	}
	login := regexp.MustCompile(`msg="submission login" remote=127.0.0.1:\d+ account=bob@example.test tls=true mechanism=PLAIN`)
	if !login.MatchString(logs.String()) {
		t.Fatalf("no line matching %s:\n%s", login, logs.String())
	}
}

// TestSubmissionAuthLineLimit: an AUTH response is a line like any other,
// bounded before login: a long one ends the session, after a 500 when the
// client reads it before the connection resets.
func TestSubmissionAuthLineLimit(t *testing.T) {
	e := newTestEnv(t, nil)
	long := strings.Repeat("A", 10000) + "\r\n"
	for i, prefix := range []string{"AUTH PLAIN ", ""} {
		rc := dialRaw(t, e.submission)
		rc.cmd("EHLO client.test", "250")
		rc.startTLS()
		rc.cmd("EHLO client.test", "250")
		if prefix == "" {
			rc.cmd("AUTH PLAIN", "334")
		}
		io.WriteString(rc.c, prefix+long) // the server may close before reading it all
		for {
			line, err := rc.r.ReadString('\n')
			if err != nil {
				break
			}
			if !strings.HasPrefix(line, "500") {
				t.Fatalf("case %d: %q after a long AUTH line", i, line)
			}
		}
	}
}
