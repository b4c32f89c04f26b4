package smtp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/limit"
	"casella/internal/spool"
	"casella/internal/store"
)

const testMsg = "From: sender@remote.test\r\nTo: alice@example.test\r\nSubject: hi\r\n\r\nHello\r\n..dot line\r\nend\r\n"

// stored returns the message as sent on the wire after dot-unstuffing.
var storedBody = strings.Replace(testMsg, "\r\n..dot", "\r\n.dot", 1)

// splitReceived checks that data is one Received header followed by want.
func splitReceived(t *testing.T, data []byte, want string) string {
	t.Helper()
	if !bytes.HasPrefix(data, []byte("Received: ")) {
		t.Fatalf("message does not start with Received: %q", data)
	}
	if !bytes.HasSuffix(data, []byte(want)) {
		t.Fatalf("stored %q, want Received + %q", data, want)
	}
	hdr := string(data[:len(data)-len(want)])
	if strings.Count(hdr, "\r\n") != strings.Count(hdr, "\r\n\t")+1 {
		t.Fatalf("Received header %q has unfolded lines", hdr)
	}
	return hdr
}

func TestMXDeliver(t *testing.T) {
	e := newTestEnv(t, nil)
	rc := dialRaw(t, e.mx)
	ehlo := rc.cmd("EHLO client.test", "250")
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE", "ENHANCEDSTATUSCODES", "STARTTLS", "CHUNKING"} {
		if !strings.Contains(ehlo, ext) {
			t.Errorf("EHLO reply lacks %s: %q", ext, ehlo)
		}
	}
	if strings.Contains(ehlo, "AUTH") {
		t.Errorf("MX advertises AUTH: %q", ehlo)
	}
	rc.cmd("MAIL FROM:<sender@remote.test>", "250")
	rc.cmd("RCPT TO:<alice@example.test>", "250")
	rc.cmd("DATA", "354")
	rc.send(testMsg + ".\r\n")
	if r := rc.expect("250 2.0.0"); !strings.Contains(r, "id1") {
		t.Errorf("reply %q does not name the spool id", r)
	}
	rc.cmd("QUIT", "221")

	msgs := e.spool.all()
	if len(msgs) != 1 {
		t.Fatalf("%d messages enqueued, want 1", len(msgs))
	}
	env := msgs[0].env
	if env.From != "sender@remote.test" || len(env.Recipients) != 1 || env.Recipients[0].Address != "alice@example.test" || env.Recipients[0].Account != 1 || env.Auth != "" {
		t.Errorf("envelope %+v", env)
	}
	hdr := splitReceived(t, msgs[0].data, storedBody)
	for _, want := range []string{"from client.test ([127.0.0.1])", "by mx.example.test", "with ESMTP id", "for <alice@example.test>;"} {
		if !strings.Contains(hdr, want) {
			t.Errorf("Received %q lacks %q", hdr, want)
		}
	}
	if len(e.outbound.all()) != 0 {
		t.Error("inbound mail went to the outbound queue")
	}
}

func TestMXAliasAndTag(t *testing.T) {
	e := newTestEnv(t, nil)
	c, err := gosmtp.Dial(e.mx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("s@remote.test", []string{"team@example.test", "bob+lists@example.test"}, strings.NewReader(testMsg)); err != nil {
		t.Fatal(err)
	}
	msgs := e.spool.all()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	rs := msgs[0].env.Recipients
	if len(rs) != 3 || rs[0].Address != "team@example.test" || rs[1].Address != "team@example.test" || rs[0].Account == rs[1].Account ||
		rs[2].Address != "bob+lists@example.test" || rs[2].Tag != "lists" {
		t.Fatalf("recipients %+v", rs)
	}
	// The client dot-stuffs and the server unstuffs: the bytes arrive as given.
	if hdr := splitReceived(t, msgs[0].data, testMsg); strings.Contains(hdr, "for <") {
		t.Errorf("Received names a recipient of several: %q", hdr)
	}
}

func TestMXRefusals(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.MaxRecipients = 2; c.MaxMessageBytes = 200 })
	rc := dialRaw(t, e.mx)
	rc.cmd("EHLO client.test", "250")
	rc.cmd("MAIL FROM:<s@remote.test>", "250")
	rc.cmd("RCPT TO:<nobody@example.test>", "550 5.1.1")
	rc.cmd("RCPT TO:<victim@elsewhere.test>", "550 5.7.1")
	rc.cmd("RCPT TO:<not-an-address>", "501")
	rc.cmd("DATA", "502 5.5.1") // no accepted recipient
	rc.cmd("MAIL FROM:<s@remote.test>", "250")
	rc.cmd("RCPT TO:<alice@example.test>", "250")
	rc.cmd("RCPT TO:<bob@example.test>", "250")
	rc.cmd("RCPT TO:<team@example.test>", "452 4.5.3")
	rc.cmd("DATA", "354")
	rc.send(strings.Repeat("x", 300) + "\r\n.\r\n")
	rc.expect("552 5.3.4")
	rc.cmd("MAIL FROM:<s@remote.test> SIZE=1000", "552 5.3.4")
	rc.cmd("MAIL FROM:<s@remote.test>", "250")
	rc.cmd("RCPT TO:<alice@example.test>", "250")
	rc.send("BDAT 300 LAST\r\n" + strings.Repeat("y", 300))
	rc.expect("552 5.3.4")
	rc.cmd("NOOP", "250")
	if n := len(e.spool.all()); n != 0 {
		t.Fatalf("%d refused messages enqueued", n)
	}
}

func TestMXGarbageAndLongLines(t *testing.T) {
	e := newTestEnv(t, nil)
	rc := dialRaw(t, e.mx)
	rc.cmd("EHLO client.test", "250")
	rc.cmd("MAIL FROM:<s@remote.test>", "250")
	rc.cmd("XYZZ plugh", "500 5.5.2")
	rc.cmd("XYZZYplugh", "501 5.5.2")
	rc.cmd("\x01\x02\xff garbage", "50")
	// The transaction survived the garbage.
	rc.cmd("RCPT TO:<alice@example.test>", "250")
	rc.cmd("DATA", "354")
	rc.send(testMsg + ".\r\n")
	rc.expect("250")
	if n := len(e.spool.all()); n != 1 {
		t.Fatalf("%d messages", n)
	}
	// go-smtp ends the session on a line longer than its limit, after a
	// 500 reply; nothing of it reaches the spool.
	rc.send("MAIL FROM:<" + strings.Repeat("a", 3000) + "@remote.test>\r\n")
	rc.expect("500")
	if n := len(e.spool.all()); n != 1 {
		t.Fatalf("%d messages after the long line", n)
	}
}

func TestMXSMTPUTF8And8Bit(t *testing.T) {
	e := newTestEnv(t, nil)
	rc := dialRaw(t, e.mx)
	rc.cmd("EHLO client.test", "250")
	rc.cmd("MAIL FROM:<sénder@remote.test>", "553 5.6.7")
	rc.cmd("MAIL FROM:<s@remote.test>", "250")
	rc.cmd("RCPT TO:<üser@example.test>", "553 5.6.7")
	rc.cmd("MAIL FROM:<sénder@remote.test> SMTPUTF8 BODY=8BITMIME", "250")
	rc.cmd("RCPT TO:<üser@example.test>", "250")
	rc.cmd("DATA", "354")
	body := "From: sénder@remote.test\r\nSubject: Grüße\r\n\r\nÄrger \xff\xfe bytes\r\n"
	rc.send(body + ".\r\n")
	rc.expect("250")
	msgs := e.spool.all()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	hdr := splitReceived(t, msgs[0].data, body)
	if !strings.Contains(hdr, "with UTF8SMTP ") || !strings.Contains(hdr, "for <üser@example.test>") {
		t.Errorf("Received %q", hdr)
	}
	if msgs[0].env.From != "sénder@remote.test" || msgs[0].env.Recipients[0].Account != 3 {
		t.Errorf("envelope %+v", msgs[0].env)
	}
}

func TestMXChunking(t *testing.T) {
	e := newTestEnv(t, nil)
	rc := dialRaw(t, e.mx)
	rc.cmd("EHLO client.test", "250")
	rc.cmd("MAIL FROM:<s@remote.test>", "250")
	rc.cmd("RCPT TO:<alice@example.test>", "250")
	part1, part2 := testMsg[:20], testMsg[20:]
	rc.send(fmt.Sprintf("BDAT %d\r\n%s", len(part1), part1))
	rc.expect("250")
	rc.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(part2), part2))
	rc.expect("250 2.0.0")
	msgs := e.spool.all()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	// BDAT carries no dot-stuffing: the bytes are stored as sent.
	splitReceived(t, msgs[0].data, testMsg)
}

func TestMXSTARTTLS(t *testing.T) {
	e := newTestEnv(t, nil)
	c, err := gosmtp.DialStartTLS(e.mx, clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("s@remote.test", []string{"alice@example.test"}, strings.NewReader(testMsg)); err != nil {
		t.Fatal(err)
	}
	msgs := e.spool.all()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	hdr := splitReceived(t, msgs[0].data, testMsg)
	if !strings.Contains(hdr, "with ESMTPS id") || !strings.Contains(hdr, "(TLS 1.3 TLS_") {
		t.Errorf("Received %q does not record TLS", hdr)
	}
}

func TestMXOurFailuresAreTemporary(t *testing.T) {
	e := newTestEnv(t, nil)
	rc := dialRaw(t, e.mx)
	rc.cmd("EHLO client.test", "250")
	rc.cmd("MAIL FROM:<s@remote.test>", "250")
	e.dir.setFail(errors.New("directory database is down"))
	rc.cmd("RCPT TO:<alice@example.test>", "451 4.3.0")
	e.dir.setFail(nil)
	rc.cmd("RCPT TO:<alice@example.test>", "250")

	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("spool: write: %w", syscall.ENOSPC), "452 4.3.1"},
		{fmt.Errorf("enqueue: %w: 100 entries", spool.ErrFull), "452 4.3.1"},
		{errors.New("spool: fsync: input/output error"), "451 4.3.0"},
	} {
		e.spool.setFail(tc.err)
		rc.cmd("DATA", "354")
		rc.send(testMsg + ".\r\n")
		rc.expect(tc.want)
		rc.cmd("MAIL FROM:<s@remote.test>", "250")
		rc.cmd("RCPT TO:<alice@example.test>", "250")
	}
	e.spool.setFail(nil)
	if n := len(e.spool.all()); n != 0 {
		t.Fatalf("%d messages", n)
	}
}

func TestMXQuota(t *testing.T) {
	var usageErr error
	e := newTestEnv(t, func(c *Config) {
		c.Usage = func(ctx context.Context, a store.Account) (store.Usage, error) {
			return store.Usage{Bytes: 1000}, usageErr
		}
	})
	e.dir.add("full@example.test", "pw", 1000)
	e.dir.add("roomy@example.test", "pw", 5000)
	rc := dialRaw(t, e.mx)
	rc.cmd("EHLO client.test", "250")
	rc.cmd("MAIL FROM:<s@remote.test>", "250")
	rc.cmd("RCPT TO:<full@example.test>", "452 4.2.2")
	rc.cmd("RCPT TO:<roomy@example.test>", "250")
	usageErr = errors.New("store down")
	rc.cmd("RCPT TO:<full@example.test>", "250")
}

func TestMXConnectionLimit(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.Conns = &limit.Gate{PerAddress: limit.NewConns(1)} })
	first := dialRaw(t, e.mx)
	second, err := net.Dial("tcp", e.mx)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(second).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "421 4.7.0") {
		t.Fatalf("second connection got %q, %v; want 421 4.7.0", line, err)
	}
	first.cmd("EHLO client.test", "250")
	first.cmd("QUIT", "221")
	first.c.Close()
	// The slot is free once the first session has ended; the server
	// closes it after QUIT, so a new client eventually gets in.
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", e.mx)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if strings.HasPrefix(line, "220") {
			break
		}
		if i == 1000 {
			t.Fatalf("slot never freed: %q", line)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestShutdown(t *testing.T) {
	e := newTestEnv(t, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- e.srv.ServeMX(l) }()
	rc := dialRaw(t, e.mx)
	rc.cmd("EHLO client.test", "250")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a session left open = %v, want deadline exceeded", err)
	}
	// The idle session was closed.
	if _, err := rc.r.ReadString('\n'); err == nil {
		t.Fatal("session still open after Shutdown")
	}
	if _, err := net.Dial("tcp", e.mx); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
	// ErrServerClosed if Shutdown came before ServeMX registered.
	if err := <-served; err != nil && !errors.Is(err, ErrServerClosed) {
		t.Fatalf("ServeMX after Shutdown = %v, want nil", err)
	}
}
