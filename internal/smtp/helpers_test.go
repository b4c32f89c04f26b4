package smtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"casella/internal/directory"
	"casella/internal/limit"
	"casella/internal/spool"
	"casella/internal/store"
	"casella/internal/tlsconf"
)

// testDirectory is a small in-memory directory with the semantics of
// directory.Directory's Resolve and Authenticate.
type testDirectory struct {
	mu       sync.Mutex
	domains  map[string]bool
	accounts map[string]directory.Account // by canonical address
	password map[string]string
	aliases  map[string][]string
	fail     error // returned by every call when set
}

func newTestDirectory() *testDirectory {
	d := &testDirectory{
		domains:  map[string]bool{"example.test": true},
		accounts: map[string]directory.Account{},
		password: map[string]string{},
		aliases:  map[string][]string{},
	}
	d.add("alice@example.test", "alice-pw", 0)
	d.add("bob@example.test", "bob-pw", 0)
	d.add("üser@example.test", "user-pw", 0)
	d.aliases["team@example.test"] = []string{"alice@example.test", "bob@example.test"}
	return d
}

func (d *testDirectory) add(addr, pw string, quota int64) {
	d.accounts[addr] = directory.Account{ID: store.Account(len(d.accounts) + 1), Address: addr, Quota: quota}
	d.password[addr] = pw
}

func (d *testDirectory) setFail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail = err
}

func (d *testDirectory) Resolve(ctx context.Context, address string) ([]directory.Recipient, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail != nil {
		return nil, d.fail
	}
	at := strings.LastIndexByte(address, '@')
	if at <= 0 {
		return nil, fmt.Errorf("resolve %q: %w", address, directory.ErrInvalid)
	}
	local, domain := strings.ToLower(address[:at]), strings.ToLower(address[at+1:])
	if !d.domains[domain] {
		return nil, fmt.Errorf("resolve %q: %w", address, directory.ErrNotLocal)
	}
	tag := ""
	if i := strings.IndexByte(local, '+'); i > 0 {
		local, tag = local[:i], local[i+1:]
	}
	addr := local + "@" + domain
	if targets, ok := d.aliases[addr]; ok {
		var rs []directory.Recipient
		for _, t := range targets {
			rs = append(rs, directory.Recipient{Account: d.accounts[t]})
		}
		return rs, nil
	}
	a, ok := d.accounts[addr]
	if !ok {
		return nil, fmt.Errorf("resolve %q: %w", address, directory.ErrNoSuchUser)
	}
	return []directory.Recipient{{Account: a, Tag: tag}}, nil
}

func (d *testDirectory) Authenticate(ctx context.Context, address, password string) (directory.Account, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail != nil {
		return directory.Account{}, d.fail
	}
	a, ok := d.accounts[strings.ToLower(address)]
	if !ok || d.password[a.Address] != password {
		return directory.Account{}, directory.ErrBadCredentials
	}
	return a, nil
}

// queued is one enqueued message.
type queued struct {
	env  spool.Envelope
	data []byte
}

// recorder is an Enqueuer that keeps what it was given, or fails.
type recorder struct {
	mu   sync.Mutex
	msgs []queued
	fail error
}

func (r *recorder) Enqueue(ctx context.Context, env spool.Envelope, data []byte) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return "", r.fail
	}
	r.msgs = append(r.msgs, queued{env, append([]byte(nil), data...)})
	return fmt.Sprintf("id%d", len(r.msgs)), nil
}

func (r *recorder) all() []queued {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]queued(nil), r.msgs...)
}

func (r *recorder) setFail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}

// testEnv is a running Server with its three listeners.
type testEnv struct {
	srv                         *Server
	dir                         *testDirectory
	spool, outbound             *recorder
	mx, submission, submissions string
	tls                         *tls.Config
}

// clientTLS trusts the test server's self-signed certificate.
func clientTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}
}

func newTestEnv(t *testing.T, edit func(*Config)) *testEnv {
	t.Helper()
	tlsCfg, err := tlsconf.Load("", "", t.TempDir(), "localhost")
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{dir: newTestDirectory(), spool: &recorder{}, outbound: &recorder{}, tls: tlsCfg}
	cfg := Config{
		Hostname:  "mx.example.test",
		Directory: e.dir,
		Spool:     e.spool,
		Outbound:  e.outbound,
		TLS:       tlsCfg,
		AuthLimit: limit.NewAuth(limit.AuthOptions{Logger: discardLogger()}),
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if edit != nil {
		edit(&cfg)
	}
	e.srv = New(cfg)
	listen := func(serve func(net.Listener) error) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go serve(l)
		return l.Addr().String()
	}
	e.mx = listen(e.srv.ServeMX)
	e.submission = listen(e.srv.ServeSubmission)
	e.submissions = listen(e.srv.ServeSubmissions)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.srv.Shutdown(ctx)
	})
	return e
}

// rawConn is a line-level SMTP client for exact protocol tests.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	rc := &rawConn{t: t, c: c, r: bufio.NewReader(c)}
	rc.expect("220")
	return rc
}

func (rc *rawConn) startTLS() {
	rc.t.Helper()
	rc.cmd("STARTTLS", "220")
	tc := tls.Client(rc.c, clientTLS())
	if err := tc.Handshake(); err != nil {
		rc.t.Fatal(err)
	}
	rc.c, rc.r = tc, bufio.NewReader(tc)
}

// send writes raw bytes.
func (rc *rawConn) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatal(err)
	}
}

// reply reads one possibly multi-line reply and returns it whole.
func (rc *rawConn) reply() string {
	rc.t.Helper()
	var all strings.Builder
	for {
		line, err := rc.r.ReadString('\n')
		if err != nil {
			rc.t.Fatalf("reading reply after %q: %v", all.String(), err)
		}
		all.WriteString(line)
		if len(line) < 4 || line[3] != '-' {
			return all.String()
		}
	}
}

// expect reads a reply and fails unless it starts with prefix (its last
// line, for multi-line replies).
func (rc *rawConn) expect(prefix string) string {
	rc.t.Helper()
	r := rc.reply()
	lines := strings.Split(strings.TrimRight(r, "\r\n"), "\r\n")
	if !strings.HasPrefix(lines[len(lines)-1], prefix) {
		rc.t.Fatalf("reply %q, want %q", r, prefix)
	}
	return r
}

// cmd sends a command line and expects a reply starting with prefix.
func (rc *rawConn) cmd(line, prefix string) string {
	rc.t.Helper()
	rc.send(line + "\r\n")
	return rc.expect(prefix)
}

func discardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func saslPlain(user, pw string) sasl.Client {
	return sasl.NewPlainClient("", user, pw)
}
