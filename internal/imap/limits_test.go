package imap

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"casella/internal/limit"
)

// growth reports what n connections added to the heap and the goroutine
// stacks since before, and returns the heap's growth.
func growth(t *testing.T, before memory, n int) int64 {
	t.Helper()
	after := measureMemory(t)
	heap, stacks := int64(after.heap)-int64(before.heap), int64(after.stacks)-int64(before.stacks)
	t.Logf("%d connections: heap grew by %d KiB, stacks by %d KiB: %.1f KiB each", n, heap>>10, stacks>>10, float64(heap+stacks)/1024/float64(n))
	return heap
}

// announceLiterals opens n connections, has each announce a literal of
// size bytes in cmd (which ends in "{size}") and send one byte of it when
// the server asks for the literal. It returns the first line each got.
func announceLiterals(t *testing.T, e *testEnv, n int, login bool, cmd string) []string {
	t.Helper()
	answers := make([]string, n)
	for i := range n {
		rc := e.raw(t)
		if login {
			rc.login()
		}
		rc.send(cmd + "\r\n")
		answers[i] = rc.line()
		if strings.HasPrefix(answers[i], "+") {
			rc.send("x")
			// A command after the byte shows that the server has read
			// it: the NOOP is taken as more of the literal.
			rc.send(" NOOP\r\n")
		}
	}
	return answers
}

// TestPreAuthLiteralMemory: clients that have not logged in announce 50 MB
// literals and send one byte; the server must not allocate what they
// announce.
func TestPreAuthLiteralMemory(t *testing.T) {
	e := newTestEnv(t, func(s *Server) { s.MaxLiteral = 64 << 20 })
	const n = 20
	before := measureMemory(t)
	answers := announceLiterals(t, e, n, false, "a LOGIN {52428800}")
	grown := growth(t, before, n)
	if grown > 4<<20 {
		t.Errorf("heap grew by %d MiB for %d pre-login connections announcing 50 MB literals", grown>>20, n)
	}
	if !strings.HasPrefix(answers[0], "a NO [TOOBIG]") {
		t.Errorf("answer to a 50 MB literal before login: %q, want NO [TOOBIG]", answers[0])
	}
}

// TestLiteralGrowsAsBytesArrive: after login the limit is max_literal_size,
// but a literal's buffer follows the bytes received, not the size announced.
func TestLiteralGrowsAsBytesArrive(t *testing.T) {
	e := newTestEnv(t, func(s *Server) { s.MaxLiteral = 64 << 20 })
	const n = 10
	before := measureMemory(t)
	answers := announceLiterals(t, e, n, true, "a APPEND INBOX {52428800}")
	grown := growth(t, before, n)
	if !strings.HasPrefix(answers[0], "+") {
		t.Fatalf("APPEND of 50 MB within a 64 MiB limit: %q", answers[0])
	}
	if grown > 8<<20 {
		t.Errorf("heap grew by %d MiB for %d connections that sent one byte of a 50 MB literal", grown>>20, n)
	}
}

// TestPreAuthCommandBudget: before login the literals of one command share
// a small budget, ID's included, and a skipped bad line is bounded.
func TestPreAuthCommandBudget(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	val := strings.Repeat("v", 6000)
	rc.send(fmt.Sprintf("a ID (\"k1\" {%d+}\r\n%s \"k2\" {%d+}\r\n%s \"k3\" {%d+}\r\n", len(val), val, len(val), val, len(val)))
	u, tagged := rc.until("a")
	if len(u) != 1 || !strings.HasPrefix(u[0], "* BYE") || !strings.HasPrefix(tagged, "a BAD [TOOBIG]") {
		t.Fatalf("ID with 18 KB of literals before login: %q %q", u, tagged)
	}

	rc = e.raw(t)
	rc.expect("b ID (\"k1\" \"v\")", "b OK")
	// A bad command whose rest goes on and on is cut off.
	rc.send("c BOGUS " + strings.Repeat("x", 7000) + " {12000+}\r\n")
	rc.send(strings.Repeat("y", 12000) + "\r\n")
	u, tagged = rc.until("c")
	if len(u) != 1 || !strings.HasPrefix(u[0], "* BYE") || !strings.HasPrefix(tagged, "c BAD") {
		t.Fatalf("long bad command before login: %q %q", u, tagged)
	}
}

// TestLiteralSizeBeyondNumber64: a size no int64 holds is a syntax error,
// said as such, not a literal of -1 bytes.
func TestLiteralSizeBeyondNumber64(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	_, tagged := rc.cmd("a APPEND INBOX {99999999999999999999}")
	if !strings.HasPrefix(tagged, "a BAD [TOOBIG] literal size 99999999999999999999 is beyond") {
		t.Fatalf("answer: %q", tagged)
	}
	rc.ok("b NOOP")
}

// TestConnectionCaps: the caps on connections answer with BYE
// [UNAVAILABLE] and say which one was hit; the account's cap from one
// address answers the login NO [LIMIT], and many accounts behind one
// address get in.
func TestConnectionCaps(t *testing.T) {
	var refusals []string
	var mu sync.Mutex
	gate := &limit.Gate{Protocol: "imap", Proto: limit.NewConns(60), PerAddress: limit.NewConns(1000), PerUserAddr: limit.NewConns(25),
		Refused: func(p, r string) { mu.Lock(); refusals = append(refusals, p+" "+r); mu.Unlock() }}
	e := newTestEnv(t, func(s *Server) { s.Conns = gate })
	for i := range 50 {
		rc := e.raw(t)
		if i < 25 {
			rc.login()
		} else {
			rc.ok(`b LOGIN bob@example.org "bob password"`)
		}
	}
	rc := e.raw(t)
	rc.expect("c LOGIN "+testUser+` "`+testPass+`"`, "c NO [LIMIT] Too many connections for "+testUser)
	rc.ok("d NOOP")
	for range 9 {
		e.raw(t)
	}
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(nc).ReadString('\n')
	if line != "* BYE [UNAVAILABLE] Too many IMAP connections, try again later\r\n" {
		t.Fatalf("connection over the protocol's cap got %q", line)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := "imap user_address,imap protocol_full"; strings.Join(refusals, ",") != want {
		t.Fatalf("refusals %q, want %q", refusals, want)
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
	e := newTestEnv(t, func(s *Server) { s.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	rc := e.raw(t)
	rc.login()
	rc.ok("a NOOP")
	rc.ok("b LOGOUT")
	end := regexp.MustCompile(`msg="imap session ended" proto=imap remote=\S+ account=alice@example.org duration=\S+ in=\d+ out=\d+ commands=3 reason=logout`)
	for i := 0; !end.MatchString(logs.String()); i++ {
		if i == 100 {
			t.Fatalf("no line matching %s:\n%s", end, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // the line follows the close
	}
	login := regexp.MustCompile(`msg="imap login" proto=imap remote=127.0.0.1:\d+ account=alice@example.org tls=false mechanism=LOGIN`)
	if !login.MatchString(logs.String()) {
		t.Fatalf("no line matching %s:\n%s", login, logs.String())
	}
}

// TestLoginTimeout: a client that does not log in is logged out after the
// short LoginTimeout (RFC 9051 section 5.4), one that has after IdleTimeout.
func TestLoginTimeout(t *testing.T) {
	e := newTestEnv(t, func(s *Server) { s.LoginTimeout = 200 * time.Millisecond })
	in := e.raw(t)
	in.login()
	silent := e.raw(t)
	if l := silent.line(); l != "* BYE Autologout, idle for too long" {
		t.Fatalf("silent client before login got %q", l)
	}
	time.Sleep(300 * time.Millisecond)
	in.ok("a NOOP")
}

// BenchmarkLiteral reads a 10 MB literal: the buffer grows as the bytes
// arrive rather than being allocated once from the announced size.
func BenchmarkLiteral(b *testing.B) {
	const size = 10 << 20
	data := append([]byte(fmt.Sprintf("{%d+}\r\n", size)), bytes.Repeat([]byte("x"), size)...)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		p := parser{r: bufio.NewReader(bytes.NewReader(data)), maxLine: maxLine, maxLiteral: 64 << 20, maxCommand: 64 << 20}
		if _, err := p.literal(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTooManyBadCommands: a client that sends what is not IMAP, such as
// an HTTP request, is disconnected after a few BAD answers.
func TestTooManyBadCommands(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	// Ten lines: the server reads all before it closes, so the client
	// gets every answer rather than a reset.
	rc.send("GET / HTTP/1.1\r\nHost: imap.example.org\r\nUser-Agent: x\r\nAccept: */*\r\n" +
		"Cookie: a=b\r\nX-1: 1\r\nX-2: 2\r\nX-3: 3\r\nX-4: 4\r\n\r\n")
	var lines []string
	for {
		l := rc.line()
		lines = append(lines, l)
		if strings.HasPrefix(l, "* BYE") {
			break
		}
	}
	if len(lines) != maxBadCommandsPreAuth+1 || lines[len(lines)-1] != "* BYE Too many invalid commands" {
		t.Fatalf("answers to an HTTP request: %q", lines)
	}

	// After login more are allowed, and a good command starts the count
	// again.
	rc = e.raw(t)
	rc.login()
	for range 2 {
		for range maxBadCommands - 1 {
			rc.expect("b BOGUS", "b BAD")
		}
		rc.ok("n NOOP")
	}
	rc.expect("b BOGUS", "b BAD") // a fresh count: not the 20th in a row
	for range maxBadCommands - 1 {
		rc.send("b BOGUS\r\n")
	}
	lines = nil
	for len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], "* BYE") {
		lines = append(lines, rc.line())
	}
	// The BYE comes after the 20th BAD in a row.
	if len(lines) != maxBadCommands || lines[len(lines)-1] != "* BYE Too many invalid commands" {
		t.Fatalf("after %d BAD: %q", maxBadCommands, lines)
	}
}
