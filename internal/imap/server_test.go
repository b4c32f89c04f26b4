package imap

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"casella/internal/blob/fs"
	"casella/internal/directory"
	"casella/internal/store"
	"casella/internal/store/sqlite"
)

// testAuth is a fixed set of logins standing in for the directory.
type testAuth map[string]struct {
	password string
	id       store.Account
}

func (a testAuth) Authenticate(ctx context.Context, address, password string) (directory.Account, error) {
	u, ok := a[address]
	if !ok || u.password != password {
		return directory.Account{}, directory.ErrBadCredentials
	}
	return directory.Account{ID: u.id, Address: address}, nil
}

// testEnv is a server on 127.0.0.1 with a real SQLite store and blob
// directory.
type testEnv struct {
	srv   *Server
	addr  string
	store *sqlite.Store
	blobs *fs.Store
	dir   string // holds the store and the blobs directory
}

const (
	testUser = "alice@example.org"
	testPass = "secret password"
)

func newTestEnv(t testing.TB, configure ...func(*Server)) *testEnv {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "store.db"))
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	blobs, err := fs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatalf("opening blobs: %v", err)
	}
	srv := &Server{
		Store: st,
		Blobs: blobs,
		Auth: testAuth{
			testUser:          {testPass, 1},
			"bob@example.org": {"bob password", 2},
		},
		Hostname:           "imap.example.org",
		Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
		AllowPlainLoopback: true,
		MaxLiteral:         1 << 20,
	}
	for _, f := range configure {
		f(srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l, false) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("serve returned %v", err)
		}
		st.Close()
	})
	return &testEnv{srv: srv, addr: l.Addr().String(), store: st, blobs: blobs, dir: dir}
}

// client connects a go-imap client and logs in.
func (e *testEnv) client(t *testing.T, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(e.addr, opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(testUser, testPass).Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

// rawConn is a line-level client for what go-imap's client cannot send.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	r  *bufio.Reader
}

func (e *testEnv) raw(t testing.TB) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	rc := &rawConn{t: t, nc: nc, r: bufio.NewReader(nc)}
	if greet := rc.line(); !strings.HasPrefix(greet, "* OK ") {
		t.Fatalf("greeting %q", greet)
	}
	return rc
}

// login logs the raw connection in.
func (rc *rawConn) login() {
	rc.t.Helper()
	rc.ok("L LOGIN " + testUser + ` "` + testPass + `"`)
}

func (rc *rawConn) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.nc, s); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// line reads one response line, without CRLF, with any literals inline.
func (rc *rawConn) line() string {
	rc.t.Helper()
	var b strings.Builder
	for {
		l, err := rc.r.ReadString('\n')
		if err != nil {
			rc.t.Fatalf("read after %q: %v", b.String(), err)
		}
		l = strings.TrimSuffix(l, "\r\n")
		b.WriteString(l)
		var n int
		if i := strings.LastIndexByte(l, '{'); i >= 0 && strings.HasSuffix(l, "}") {
			if _, err := fmt.Sscanf(l[i:], "{%d}", &n); err == nil {
				buf := make([]byte, n)
				if _, err := io.ReadFull(rc.r, buf); err != nil {
					rc.t.Fatalf("read literal: %v", err)
				}
				b.Write(buf)
				continue
			}
		}
		return b.String()
	}
}

// cmd sends a tagged command line and returns the untagged lines and the
// tagged response.
func (rc *rawConn) cmd(line string) (untagged []string, tagged string) {
	rc.t.Helper()
	tag, _, _ := strings.Cut(line, " ")
	rc.send(line + "\r\n")
	return rc.until(tag)
}

// until reads lines up to the response tagged tag.
func (rc *rawConn) until(tag string) (untagged []string, tagged string) {
	rc.t.Helper()
	for {
		l := rc.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, l
		}
		untagged = append(untagged, l)
	}
}

// ok runs a command that must succeed and returns its untagged lines.
func (rc *rawConn) ok(line string) []string {
	rc.t.Helper()
	u, tagged := rc.cmd(line)
	tag, _, _ := strings.Cut(line, " ")
	if !strings.HasPrefix(tagged, tag+" OK") {
		rc.t.Fatalf("%s: got %q (untagged %q)", line, tagged, u)
	}
	return u
}

// expect runs a command and checks the start of its tagged response.
func (rc *rawConn) expect(line, prefix string) []string {
	rc.t.Helper()
	u, tagged := rc.cmd(line)
	if !strings.HasPrefix(tagged, prefix) {
		rc.t.Fatalf("%s: got %q, want %q...", line, tagged, prefix)
	}
	return u
}

// appendRaw appends a message through a raw connection and returns its
// untagged responses.
func (rc *rawConn) appendMsg(mailbox, flags, msg string) string {
	rc.t.Helper()
	rc.send(fmt.Sprintf("A APPEND %s (%s) {%d+}\r\n%s\r\n", mailbox, flags, len(msg), msg))
	_, tagged := rc.until("A")
	if !strings.HasPrefix(tagged, "A OK") {
		rc.t.Fatalf("append: %q", tagged)
	}
	return tagged
}

const simpleMsg = "From: Alice <alice@example.org>\r\n" +
	"To: Bob <bob@example.org>\r\n" +
	"Subject: Hello there\r\n" +
	"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n" +
	"Message-ID: <one@example.org>\r\n" +
	"\r\n" +
	"Hi Bob,\r\nthe quick brown fox.\r\n"

const multipartMsg = "From: Carol <carol@example.org>\r\n" +
	"To: alice@example.org\r\n" +
	"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n" +
	"Date: Tue, 03 Jan 2006 10:00:00 +0100\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Sch=C3=B6ne Gr=C3=BC=C3=9Fe aus Z=C3=BCrich\r\n" +
	"--b1\r\n" +
	"Content-Type: application/octet-stream; name=\"data.bin\"\r\n" +
	"Content-Disposition: attachment; filename=\"data.bin\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"AAECAwQ=\r\n" +
	"--b1--\r\n"

func TestGreetingAndCapability(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	u := rc.ok("a CAPABILITY")
	if len(u) != 1 || !strings.Contains(u[0], "IMAP4rev1") || !strings.Contains(u[0], "AUTH=PLAIN") {
		t.Fatalf("capability = %q", u)
	}
	rc.ok("b NOOP")
	u = rc.ok("c LOGOUT")
	if len(u) != 1 || !strings.HasPrefix(u[0], "* BYE") {
		t.Fatalf("logout untagged = %q", u)
	}
}
