package pop3

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"casella/internal/limit"
)

const (
	msg1 = "From: carol@example.net\r\nTo: alice@example.org\r\nSubject: first\r\n\r\nHello Alice.\r\n.leading dot\r\n..two dots\r\nbye\r\n"
	msg2 = "From: dave@example.net\r\nSubject: second\r\n\r\nline 1\r\nline 2\r\nline 3\r\n"
	msg3 = "Subject: bare LF\n\none\n.two\nno final newline"
)

func newMailEnv(t *testing.T, configure func(*Server)) *env {
	e := newEnv(t, false, configure)
	e.deliver(1, msg1)
	e.deliver(1, msg2)
	e.deliver(1, msg3)
	return e
}

func TestTransaction(t *testing.T) {
	e := newMailEnv(t, nil)
	c := e.dial(false)
	c.login(alice)
	size := len(msg1) + len(msg2) + len(msg3)
	if got, want := c.ok("STAT"), fmt.Sprintf("+OK 3 %d", size); got != want {
		t.Errorf("STAT = %q, want %q", got, want)
	}
	c.ok("LIST")
	if got, want := string(c.multi()), fmt.Sprintf("1 %d\r\n2 %d\r\n3 %d\r\n", len(msg1), len(msg2), len(msg3)); got != want {
		t.Errorf("LIST = %q, want %q", got, want)
	}
	if got, want := c.ok("LIST 2"), fmt.Sprintf("+OK 2 %d", len(msg2)); got != want {
		t.Errorf("LIST 2 = %q", got)
	}
	c.ok("UIDL")
	uidl := strings.Fields(string(c.multi()))
	if len(uidl) != 6 || uidl[1] == uidl[3] || !strings.HasSuffix(uidl[1], ".1") || !strings.HasSuffix(uidl[5], ".3") {
		t.Errorf("UIDL = %q", uidl)
	}
	if got := c.ok("UIDL 3"); got != "+OK 3 "+uidl[5] {
		t.Errorf("UIDL 3 = %q", got)
	}

	c.ok("RETR 1")
	if got := c.multi(); string(got) != msg1 {
		t.Errorf("RETR 1 = %q, want %q", got, msg1)
	}
	c.ok("RETR 3")
	if got, want := string(c.multi()), strings.ReplaceAll(msg3, "\n", "\r\n")+"\r\n"; got != want {
		t.Errorf("RETR 3 = %q, want %q", got, want)
	}
	c.ok("TOP 2 0")
	if got := string(c.multi()); got != "From: dave@example.net\r\nSubject: second\r\n\r\n" {
		t.Errorf("TOP 2 0 = %q", got)
	}
	c.ok("TOP 2 2")
	if got := string(c.multi()); got != "From: dave@example.net\r\nSubject: second\r\n\r\nline 1\r\nline 2\r\n" {
		t.Errorf("TOP 2 2 = %q", got)
	}
	c.ok("TOP 2 100")
	if got := string(c.multi()); got != msg2 {
		t.Errorf("TOP 2 100 = %q", got)
	}

	for _, bad := range []string{"RETR 4", "RETR 0", "RETR x", "RETR", "TOP 1", "TOP 1 -1", "LIST 9", "DELE 1 2", "USER x", "AUTH PLAIN"} {
		if l := c.cmd("%s", bad); !strings.HasPrefix(l, "-ERR ") {
			t.Errorf("%s: %q", bad, l)
		}
	}
	c.ok("NOOP")
	c.ok("DELE 2")
	for _, cmd := range []string{"RETR 2", "DELE 2", "LIST 2", "TOP 2 0", "UIDL 2"} {
		if l := c.cmd("%s", cmd); !strings.HasPrefix(l, "-ERR message 2 already deleted") {
			t.Errorf("%s after DELE: %q", cmd, l)
		}
	}
	if got, want := c.ok("STAT"), fmt.Sprintf("+OK 2 %d", len(msg1)+len(msg3)); got != want {
		t.Errorf("STAT after DELE = %q, want %q", got, want)
	}
	c.ok("LIST")
	if got := string(c.multi()); strings.Contains(got, "2 ") {
		t.Errorf("LIST shows deleted message: %q", got)
	}
}

func TestDeleQuitExpunges(t *testing.T) {
	e := newMailEnv(t, nil)
	before := e.inbox(1)
	c := e.dial(false)
	c.login(alice)
	// Delivered after login: not in this session's maildrop, so not
	// removed by its QUIT.
	e.deliver(1, "Subject: late\r\n\r\nlate\r\n")
	c.ok("DELE 1")
	c.ok("DELE 3")
	if l := c.ok("QUIT"); !strings.Contains(l, "2 messages deleted") {
		t.Errorf("QUIT = %q", l)
	}
	after := e.inbox(1)
	want := []uint32{before[1], before[2] + 1}
	if !slices.Equal(after, want) {
		t.Errorf("INBOX after QUIT = %v, want %v", after, want)
	}

	c = e.dial(false)
	c.login(alice)
	if got, want := c.ok("STAT"), fmt.Sprintf("+OK 2 %d", len(msg2)+len("Subject: late\r\n\r\nlate\r\n")); got != want {
		t.Errorf("STAT in new session = %q, want %q", got, want)
	}
}

func TestDeleRset(t *testing.T) {
	e := newMailEnv(t, nil)
	c := e.dial(false)
	c.login(alice)
	c.ok("DELE 1")
	c.ok("DELE 2")
	if l := c.ok("RSET"); !strings.HasPrefix(l, "+OK maildrop has 3 messages") {
		t.Errorf("RSET = %q", l)
	}
	c.ok("RETR 1")
	c.multi()
	c.ok("QUIT")
	if got := e.inbox(1); len(got) != 3 {
		t.Errorf("INBOX after RSET and QUIT has %d messages", len(got))
	}
}

func TestDropWithoutQuit(t *testing.T) {
	e := newMailEnv(t, nil)
	c := e.dial(false)
	c.login(alice)
	c.ok("DELE 1")
	c.conn.Close()
	// The lock is released when the server notices; a new session then
	// sees all three messages.
	for {
		c = e.dial(false)
		c.ok("USER %s", alice)
		l := c.cmd("PASS %s", testPassword)
		if strings.HasPrefix(l, "+OK maildrop has 3 messages") {
			break
		}
		if !strings.HasPrefix(l, "-ERR [IN-USE]") {
			t.Fatalf("login after dropped session: %q", l)
		}
		c.conn.Close()
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCapa(t *testing.T) {
	e := newMailEnv(t, nil)
	c := e.dial(false)
	c.ok("CAPA")
	caps := strings.Split(strings.TrimSpace(string(c.multi())), "\r\n")
	for _, want := range []string{"TOP", "UIDL", "USER", "SASL PLAIN", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "STLS", "IMPLEMENTATION Casella"} {
		if !slices.Contains(caps, want) {
			t.Errorf("CAPA lacks %q: %q", want, caps)
		}
	}
	c.login(alice)
	c.ok("CAPA")
	caps = strings.Split(strings.TrimSpace(string(c.multi())), "\r\n")
	if slices.Contains(caps, "STLS") || slices.Contains(caps, "USER") || !slices.Contains(caps, "UIDL") {
		t.Errorf("CAPA after login = %q", caps)
	}
}

func TestSTLS(t *testing.T) {
	e := newMailEnv(t, func(s *Server) { s.AllowPlainLoopback = false })
	c := e.dial(false)
	c.ok("CAPA")
	caps := string(c.multi())
	if strings.Contains(caps, "USER") || strings.Contains(caps, "SASL") || !strings.Contains(caps, "STLS") {
		t.Errorf("CAPA without TLS = %q", caps)
	}
	if l := c.cmd("USER %s", alice); !strings.HasPrefix(l, "-ERR sending a password requires TLS") {
		t.Errorf("USER without TLS: %q", l)
	}
	if l := c.cmd("AUTH PLAIN"); !strings.HasPrefix(l, "-ERR sending a password requires TLS") {
		t.Errorf("AUTH without TLS: %q", l)
	}
	c.startTLS(e.tlsCfg)
	c.ok("CAPA")
	caps = string(c.multi())
	if !strings.Contains(caps, "USER") || strings.Contains(caps, "STLS") {
		t.Errorf("CAPA with TLS = %q", caps)
	}
	if l := c.cmd("STLS"); !strings.HasPrefix(l, "-ERR") {
		t.Errorf("second STLS: %q", l)
	}
	c.login(alice)
	c.ok("RETR 2")
	if got := string(c.multi()); got != msg2 {
		t.Errorf("RETR over TLS = %q", got)
	}
}

// TestSTLSInjection checks that commands pipelined behind STLS in
// plaintext are not executed inside TLS (RFC 2595 section 4).
func TestSTLSInjection(t *testing.T) {
	e := newMailEnv(t, nil)
	c := e.dial(false)
	fmt.Fprintf(c.conn, "STLS\r\nUSER %s\r\n", alice)
	c.expect("+OK begin TLS")
	tc := tlsClient(t, c, e)
	// Had "USER" been kept, PASS would succeed.
	if l := tc.cmd("PASS %s", testPassword); !strings.HasPrefix(l, "-ERR send USER first") {
		t.Errorf("PASS after injected USER: %q", l)
	}
}

func tlsClient(t *testing.T, c *client, e *env) *client {
	tcn := tlsConn(t, c.conn, e)
	c.conn = tcn
	c.tp = newTextproto(tcn)
	return c
}

func TestImplicitTLS(t *testing.T) {
	e := newEnv(t, true, func(s *Server) { s.AllowPlainLoopback = false })
	e.deliver(2, msg1)
	c := e.dial(true)
	c.login(bob)
	c.ok("RETR 1")
	if got := string(c.multi()); got != msg1 {
		t.Errorf("RETR = %q", got)
	}
}

func TestAuthPlain(t *testing.T) {
	e := newMailEnv(t, nil)
	plain := func(authz, user, pass string) string {
		return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + user + "\x00" + pass))
	}

	c := e.dial(false)
	if l := c.cmd("AUTH PLAIN %s", plain("", alice, "wrong")); !strings.HasPrefix(l, "-ERR [AUTH]") {
		t.Errorf("wrong password: %q", l)
	}
	if l := c.cmd("AUTH PLAIN !!!"); !strings.HasPrefix(l, "-ERR") {
		t.Errorf("bad base64: %q", l)
	}
	if l := c.cmd("AUTH PLAIN %s", plain(bob, alice, testPassword)); !strings.HasPrefix(l, "-ERR [AUTH]") {
		t.Errorf("other authorization identity: %q", l)
	}
	if l := c.cmd("AUTH CRAM-MD5"); !strings.HasPrefix(l, "-ERR unsupported mechanism") {
		t.Errorf("unsupported mechanism: %q", l)
	}
	c.ok("AUTH")
	if got := string(c.multi()); got != "PLAIN\r\n" {
		t.Errorf("AUTH list = %q", got)
	}
	if l := c.cmd("AUTH PLAIN"); l != "+ " {
		t.Fatalf("AUTH PLAIN without initial response: %q", l)
	}
	if l := c.cmd("*"); !strings.HasPrefix(l, "-ERR authentication canceled") {
		t.Errorf("cancel: %q", l)
	}
	if l := c.cmd("AUTH PLAIN"); l != "+ " {
		t.Fatalf("AUTH PLAIN without initial response: %q", l)
	}
	if l := c.cmd("%s", plain(alice, alice, testPassword)); !strings.HasPrefix(l, "+OK maildrop has 3") {
		t.Errorf("continued response: %q", l)
	}

	c = e.dial(false)
	if l := c.cmd("AUTH PLAIN %s", plain("", bob, testPassword)); !strings.HasPrefix(l, "+OK maildrop has 0") {
		t.Errorf("initial response: %q", l)
	}
}

func TestWrongPassword(t *testing.T) {
	var failed atomic.Int32
	al := limit.NewAuth(limit.AuthOptions{Base: time.Millisecond, Max: time.Millisecond, Refused: func(proto, reason string) {
		if proto == "pop3" && reason == "auth_failed" {
			failed.Add(1)
		}
	}})
	e := newMailEnv(t, func(s *Server) { s.AuthLimit = al })
	c := e.dial(false)
	c.ok("USER %s", alice)
	if l := c.cmd("PASS nope"); !strings.HasPrefix(l, "-ERR [AUTH] invalid user name or password") {
		t.Errorf("wrong password: %q", l)
	}
	if l := c.cmd("PASS %s", testPassword); !strings.HasPrefix(l, "-ERR send USER first") {
		t.Errorf("PASS without USER: %q", l)
	}
	c.ok("USER nobody@example.org")
	if l := c.cmd("PASS %s", testPassword); !strings.HasPrefix(l, "-ERR [AUTH]") {
		t.Errorf("unknown user: %q", l)
	}
	c.ok("USER %s", alice)
	if l := c.cmd("PASS x"); !strings.HasPrefix(l, "-ERR [AUTH]") {
		t.Errorf("third failure: %q", l)
	}
	// Three failures end the session.
	if _, err := c.tp.ReadLine(); err != io.EOF {
		t.Errorf("after three failures: err = %v, want EOF", err)
	}
	if n := failed.Load(); n != 3 {
		t.Errorf("%d failures reported to the auth limiter, want 3", n)
	}
	c = e.dial(false)
	c.login(alice) // the limiter delays, never refuses
}

func TestInUse(t *testing.T) {
	e := newMailEnv(t, nil)
	c1 := e.dial(false)
	c1.login(alice)
	c2 := e.dial(false)
	c2.ok("USER %s", alice)
	if l := c2.cmd("PASS %s", testPassword); !strings.HasPrefix(l, "-ERR [IN-USE]") {
		t.Errorf("second login: %q", l)
	}
	c3 := e.dial(false)
	c3.login(bob) // other accounts are not affected
	c1.ok("QUIT")
	c2.login(alice)
}

func TestStoreFailure(t *testing.T) {
	e := newMailEnv(t, nil)
	c := e.dial(false)

	e.store.fail.Store(true)
	c.ok("USER %s", alice)
	if l := c.cmd("PASS %s", testPassword); l != "-ERR [SYS/TEMP] mailbox temporarily unavailable, try again later" {
		t.Errorf("login with store down: %q", l)
	}
	e.store.fail.Store(false)
	c.login(alice) // the lock was released

	e.blobs.fail.Store(true)
	if l := c.cmd("RETR 1"); l != "-ERR [SYS/TEMP] mailbox temporarily unavailable, try again later" {
		t.Errorf("RETR with blobs down: %q", l)
	}
	if l := c.cmd("TOP 1 0"); !strings.HasPrefix(l, "-ERR [SYS/TEMP]") {
		t.Errorf("TOP with blobs down: %q", l)
	}
	c.ok("STAT") // the snapshot still answers
	e.blobs.fail.Store(false)
	c.ok("RETR 1")
	if got := string(c.multi()); got != msg1 {
		t.Errorf("RETR after recovery = %q", got)
	}

	c.ok("DELE 1")
	e.store.fail.Store(true)
	if l := c.cmd("QUIT"); !strings.HasPrefix(l, "-ERR [SYS/TEMP] some deleted messages not removed") {
		t.Errorf("QUIT with store down: %q", l)
	}
	e.store.fail.Store(false)
	if got := e.inbox(1); len(got) != 3 {
		t.Errorf("INBOX has %d messages after failed update", len(got))
	}
}

func TestStoreHangs(t *testing.T) {
	e := newMailEnv(t, func(s *Server) { s.CommandTimeout = 100 * time.Millisecond })
	c := e.dial(false)
	e.store.hang.Store(true)
	c.ok("USER %s", alice)
	if l := c.cmd("PASS %s", testPassword); !strings.HasPrefix(l, "-ERR [SYS/TEMP]") {
		t.Errorf("login with store hanging: %q", l)
	}
	e.store.hang.Store(false)
	c.login(alice)
}

func TestBadInput(t *testing.T) {
	e := newMailEnv(t, nil)
	c := e.dial(false)
	for _, tc := range []struct{ line, want string }{
		{"STAT", "-ERR STAT is not allowed before login"},
		{"", "-ERR empty command"},
		{"FROBNICATE", "-ERR unknown command"},
		{"XYZ", `-ERR unknown command "XYZ"`},
		{"US\x01R a", "-ERR control character"},
		{"PASS x", "-ERR send USER first"},
		{strings.Repeat("A", 5000), "-ERR line too long"},
		{"NOOP " + strings.Repeat("x", 1000), "-ERR line too long"},
		{"NOOP " + strings.Repeat("x", 990), "-ERR NOOP is not allowed before login"},
	} {
		if l := c.cmd("%s", tc.line); !strings.HasPrefix(l, tc.want) {
			t.Errorf("%.20q: %q, want %q", tc.line, l, tc.want)
		}
	}
	c.login(alice)
	if l := c.cmd("USER x"); !strings.HasPrefix(l, "-ERR USER is not allowed after login") {
		t.Errorf("USER after login: %q", l)
	}
	// An endless line ends the session instead of eating memory. The
	// server closes with input unread, so the client may see a reset
	// before the reply.
	go c.conn.Write(bytes.Repeat([]byte("x"), 100<<10))
	for {
		l, err := c.tp.ReadLine()
		if err != nil {
			break
		}
		if l != "-ERR line too long, closing connection" {
			t.Errorf("endless line: %q", l)
		}
	}
	e.dial(false).login(alice)
}

func TestPipelining(t *testing.T) {
	e := newMailEnv(t, nil)
	c := e.dial(false)
	fmt.Fprintf(c.conn, "USER %s\r\nPASS %s\r\nSTAT\r\nRETR 2\r\nQUIT\r\n", alice, testPassword)
	c.expect("+OK send PASS")
	c.expect("+OK maildrop has 3")
	c.expect("+OK 3 ")
	c.expect("+OK ")
	if got := string(c.multi()); got != msg2 {
		t.Errorf("pipelined RETR = %q", got)
	}
	c.expect("+OK bye")
}

func TestConnLimit(t *testing.T) {
	e := newMailEnv(t, func(s *Server) { s.Conns = &limit.Gate{PerAddress: limit.NewConns(1)} })
	c := e.dial(false)
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c2 := &client{t: t, conn: conn, tp: newTextproto(conn)}
	c2.expect("-ERR [SYS/TEMP] too many connections")
	c.ok("QUIT")
}

func TestShutdown(t *testing.T) {
	e := newMailEnv(t, nil)
	c := e.dial(false)
	c.login(alice)
	c.ok("DELE 1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	c.expect("-ERR [SYS/TEMP] server shutting down")
	if got := e.inbox(1); len(got) != 3 {
		t.Errorf("shutdown applied deletions: %d messages left", len(got))
	}
	if _, err := net.Dial("tcp", e.addr); err == nil {
		t.Error("server still accepts after Shutdown")
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

// TestSessionLog: a session leaves its login and its end in the log.
func TestSessionLog(t *testing.T) {
	var logs syncBuffer
	e := newMailEnv(t, func(s *Server) { s.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	c := e.dial(false)
	c.login(alice)
	c.ok("STAT")
	c.ok("QUIT")
	end := regexp.MustCompile(`msg="pop3 session ended" remote=\S+ account=` + regexp.QuoteMeta(alice) + ` duration=\S+ in=\d+ out=\d+ commands=4 reason=logout`)
	for i := 0; !end.MatchString(logs.String()); i++ {
		if i == 100 {
			t.Fatalf("no line matching %s:\n%s", end, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // the line follows the close
	}
	login := regexp.MustCompile(`msg="pop3 login" remote=127.0.0.1:\d+ account=` + regexp.QuoteMeta(alice) + ` tls=false mechanism=USER`)
	if !login.MatchString(logs.String()) {
		t.Fatalf("no line matching %s:\n%s", login, logs.String())
	}
}

// TestPreAuthLineMemory: clients that have not logged in and send long
// lines without an end hold no more than the reader's buffer each.
func TestPreAuthLineMemory(t *testing.T) {
	e := newMailEnv(t, nil)
	const n = 20
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	before := heap()
	for range n {
		c := e.dial(false)
		c.conn.Write(bytes.Repeat([]byte("x"), 60<<10))
	}
	// One more whose long line ends: its answer shows the server reading
	// such lines, the others' bytes having been sent first.
	c := e.dial(false)
	c.conn.Write(append(bytes.Repeat([]byte("y"), 2000), "\r\n"...))
	c.expect("-ERR line too long")
	grown := int64(heap()) - int64(before)
	t.Logf("heap grew by %d KiB for %d connections", grown>>10, n+1)
	if grown > 2<<20 {
		t.Errorf("heap grew by %d KiB for %d connections sending 60 KB lines before login", grown>>10, n+1)
	}
}
