package managesieve

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"casella/internal/directory"
	"casella/internal/directory/sqlitedir"
	"casella/internal/limit"
	"casella/internal/tlsconf"
)

type fixture struct {
	srv  *Server
	addr string
}

func start(t *testing.T, loopback bool) *fixture {
	t.Helper()
	return startWith(t, loopback, nil)
}

// startWith starts a server that set, when not nil, adjusts first.
func startWith(t *testing.T, loopback bool, set func(*Server)) *fixture {
	t.Helper()
	dir := t.TempDir()
	d, err := sqlitedir.Open(filepath.Join(dir, "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx := t.Context()
	if _, err := d.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddAccount(ctx, "ann@example.com", "ann-password", 0, ""); err != nil {
		t.Fatal(err)
	}
	tc, err := tlsconf.Load("", "", dir, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Auth: d, Scripts: d, TLS: tc, AllowPlainLoopback: loopback, AuthLimit: limit.NewAuth(limit.AuthOptions{}), MaxScripts: 3, MaxScriptSize: 1000, MaxRedirects: 4}
	if set != nil {
		set(srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Shutdown(t.Context()) })
	return &fixture{srv: srv, addr: l.Addr().String()}
}

// client speaks raw ManageSieve.
type client struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func (f *fixture) dial(t *testing.T) *client {
	conn, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &client{t: t, conn: conn, br: bufio.NewReader(conn)}
	c.response()
	return c
}

// response reads lines up to OK, NO or BYE and returns them joined.
func (c *client) response() string {
	c.t.Helper()
	var lines []string
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read: %v after %q", err, lines)
		}
		line = strings.TrimRight(line, "\r\n")
		if n := 0; strings.HasSuffix(line, "}") {
			if _, err := fmt.Sscanf(line[strings.LastIndexByte(line, '{'):], "{%d}", &n); err == nil {
				b := make([]byte, n)
				io.ReadFull(c.br, b)
				line += string(b)
				rest, _ := c.br.ReadString('\n')
				line += strings.TrimRight(rest, "\r\n")
			}
		}
		lines = append(lines, line)
		if strings.HasPrefix(line, "OK") || strings.HasPrefix(line, "NO") || strings.HasPrefix(line, "BYE") {
			return strings.Join(lines, "\n")
		}
	}
}

func (c *client) do(cmd string) string {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, cmd+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
	return c.response()
}

func literal(s string) string { return fmt.Sprintf("{%d+}\r\n%s", len(s), s) }

func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func expect(t *testing.T, got, prefix string) {
	t.Helper()
	last := got[strings.LastIndexByte(got, '\n')+1:]
	if !strings.HasPrefix(last, prefix) {
		t.Errorf("got %q, want a response starting %q", got, prefix)
	}
}

func TestSession(t *testing.T) {
	f := start(t, true)
	c := f.dial(t)
	expect(t, c.do("CAPABILITY"), "OK")
	expect(t, c.do("LISTSCRIPTS"), "NO")
	expect(t, c.do(`AUTHENTICATE "PLAIN" "`+plain("ann@example.com", "wrong")+`"`), "NO")
	expect(t, c.do(`AUTHENTICATE "PLAIN" "`+plain("ann@example.com", "ann-password")+`"`), "OK")
	caps := c.do("CAPABILITY")
	for _, want := range []string{`"OWNER" "ann@example.com"`, `"VERSION" "1.0"`, "vacation-seconds", `"MAXREDIRECTS" "4"`} {
		if !strings.Contains(caps, want) {
			t.Errorf("capabilities lack %s: %s", want, caps)
		}
	}
	expect(t, c.do(`HAVESPACE "a" 100`), "OK")
	expect(t, c.do(`HAVESPACE "a" 100000`), "NO (QUOTA/MAXSIZE)")
	expect(t, c.do(`PUTSCRIPT "a" `+literal("require \"fileinto\";\r\nfileinto \"x\";\r\n")), "OK")
	got := c.do(`PUTSCRIPT "bad" ` + literal("keep;\r\nfileinto \"x\";\r\n"))
	if !strings.Contains(got, "line 2") {
		t.Errorf("PUTSCRIPT of a broken script: %q", got)
	}
	expect(t, c.do(`CHECKSCRIPT `+literal("if true {\r\n")), "NO")
	expect(t, c.do(`CHECKSCRIPT "keep;"`), "OK")
	expect(t, c.do(`PUTSCRIPT "b" "keep;"`), "OK")
	expect(t, c.do(`PUTSCRIPT "c" "keep;"`), "OK")
	expect(t, c.do(`PUTSCRIPT "d" "keep;"`), "NO (QUOTA/MAXSCRIPTS)")
	expect(t, c.do(`PUTSCRIPT "c" "discard;"`), "OK")
	expect(t, c.do(`SETACTIVE "a"`), "OK")
	expect(t, c.do(`SETACTIVE "nope"`), "NO (NONEXISTENT)")
	if got := c.do("LISTSCRIPTS"); got != "\"a\" ACTIVE\n\"b\"\n\"c\"\nOK \"Listscripts completed\"" {
		t.Errorf("LISTSCRIPTS: %q", got)
	}
	if got := c.do(`GETSCRIPT "a"`); !strings.Contains(got, "fileinto \"x\";") {
		t.Errorf("GETSCRIPT: %q", got)
	}
	expect(t, c.do(`DELETESCRIPT "a"`), "NO (ACTIVE)")
	expect(t, c.do(`RENAMESCRIPT "a" "b"`), "NO (ALREADYEXISTS)")
	expect(t, c.do(`RENAMESCRIPT "a" "z"`), "OK")
	expect(t, c.do(`GETSCRIPT "a"`), "NO (NONEXISTENT)")
	expect(t, c.do(`DELETESCRIPT "b"`), "OK")
	expect(t, c.do(`SETACTIVE ""`), "OK")
	expect(t, c.do(`DELETESCRIPT "z"`), "OK")
	expect(t, c.do(`NOOP "x1"`), `OK (TAG "x1")`)
	expect(t, c.do(`FROB`), "NO")
	expect(t, c.do(`GETSCRIPT "a\`), "NO")
	expect(t, c.do("UNAUTHENTICATE"), "OK")
	expect(t, c.do("LISTSCRIPTS"), "NO")
	expect(t, c.do("LOGOUT"), "OK")
}

// TestChanges checks that every change of a script made here is in the
// directory's change log, which JMAP's SieveScript/changes reads, and
// wakes the directory's watch, which JMAP push streams follow; failed
// commands change nothing.
func TestChanges(t *testing.T) {
	f := start(t, true)
	c := f.dial(t)
	expect(t, c.do(`AUTHENTICATE "PLAIN" "`+plain("ann@example.com", "ann-password")+`"`), "OK")
	ctx := t.Context()
	woken, stop := f.srv.Scripts.(directory.RecordWatch).WatchRecords(1)
	defer stop()
	for _, step := range []struct {
		cmd, want string
		changes   int // entries of the change log since the step began
	}{
		{`PUTSCRIPT "a" "keep;"`, "OK", 1},
		{`PUTSCRIPT "a" "discard;"`, "OK", 1},
		{`PUTSCRIPT "bad" "fileinto;"`, "NO", 0},
		{`PUTSCRIPT "b" "keep;"`, "OK", 1},
		{`SETACTIVE "a"`, "OK", 1},
		{`SETACTIVE "b"`, "OK", 2},
		{`SETACTIVE "nope"`, "NO", 0},
		{`RENAMESCRIPT "a" "c"`, "OK", 1},
		{`DELETESCRIPT "b"`, "NO (ACTIVE)", 0},
		{`DELETESCRIPT "c"`, "OK", 1},
		{`GETSCRIPT "b"`, "OK", 0},
	} {
		before, err := f.srv.Scripts.SieveState(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		expect(t, c.do(step.cmd), step.want)
		l, _, err := f.srv.Scripts.SieveChanges(ctx, 1, before)
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != step.changes {
			t.Errorf("%s: %d changes logged, want %d: %v", step.cmd, len(l), step.changes, l)
		}
		// The watch is woken at the commit, before the reply.
		select {
		case <-woken:
			if step.changes == 0 {
				t.Errorf("%s: the watch woke for no change", step.cmd)
			}
		default:
			if step.changes > 0 {
				t.Errorf("%s: the watch did not wake", step.cmd)
			}
		}
	}
}

func TestAuthenticateContinuation(t *testing.T) {
	f := start(t, true)
	c := f.dial(t)
	io.WriteString(c.conn, "AUTHENTICATE \"PLAIN\"\r\n")
	line, _ := c.br.ReadString('\n')
	if line != "\"\"\r\n" {
		t.Fatalf("challenge %q", line)
	}
	expect(t, c.do(literal(plain("ann@example.com", "ann-password"))), "OK")
}

func TestTLSRequired(t *testing.T) {
	f := start(t, false)
	c := f.dial(t)
	got := c.do("CAPABILITY")
	if !strings.Contains(got, `"STARTTLS"`) || strings.Contains(got, `"SASL" "PLAIN"`) {
		t.Errorf("capabilities before TLS: %q", got)
	}
	expect(t, c.do(`AUTHENTICATE "PLAIN" "`+plain("ann@example.com", "ann-password")+`"`), "NO (ENCRYPT-NEEDED)")
	expect(t, c.do("STARTTLS"), "OK")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn, c.br = tc, bufio.NewReader(tc)
	got = c.response()
	if !strings.Contains(got, `"SASL" "PLAIN"`) || strings.Contains(got, "STARTTLS") {
		t.Errorf("capabilities after TLS: %q", got)
	}
	expect(t, c.do(`AUTHENTICATE "PLAIN" "`+plain("ann@example.com", "ann-password")+`"`), "OK")
}

func TestHostileInput(t *testing.T) {
	f := start(t, true)
	c := f.dial(t)
	expect(t, c.do(`AUTHENTICATE "PLAIN" "`+plain("ann@example.com", "ann-password")+`"`), "OK")
	expect(t, c.do(`PUTSCRIPT "a\x01" "keep;"`), "NO")
	expect(t, c.do(strings.Repeat("A", 100)), "NO")
	expect(t, c.do(`PUTSCRIPT "big" {999999999+}`), "BYE (QUOTA/MAXSIZE)")
}

func FuzzCommand(f *testing.F) {
	for _, s := range []string{
		"CAPABILITY\r\n",
		"PUTSCRIPT \"a\" {5+}\r\nkeep;\r\n",
		"NOOP \"a\\\"b\"\r\n",
		"HAVESPACE \"x\" 12345\r\n",
		"AUTHENTICATE \"PLAIN\" {4}\r\nAAAA\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := &reader{br: bufio.NewReader(strings.NewReader(in)), maxLit: 1000}
		for range 10 {
			name, args, err := r.command()
			if err != nil {
				if _, ok := err.(*errProtocol); ok {
					continue
				}
				return
			}
			if name == "" || len(args) > maxArgs {
				t.Fatalf("command %q with %d args", name, len(args))
			}
		}
	})
}
