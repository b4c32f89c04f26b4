package pop3

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/textproto"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"casella/internal/blob"
	"casella/internal/blob/fs"
	"casella/internal/directory"
	"casella/internal/message"
	"casella/internal/store"
	"casella/internal/store/sqlite"
)

// testAuth authenticates against a fixed map of address to password; the
// account id is the position in accounts plus one.
type testAuth struct{ accounts []string }

const testPassword = "secret pass" // with a space: PASS takes the whole rest of the line

func (a testAuth) Authenticate(ctx context.Context, address, password string) (directory.Account, error) {
	for i, addr := range a.accounts {
		if addr == address && password == testPassword {
			return directory.Account{ID: store.Account(i + 1), Address: addr}, nil
		}
	}
	return directory.Account{}, fmt.Errorf("authenticate %s: %w", address, directory.ErrBadCredentials)
}

// flakyStore is the real store with a switch that makes its calls fail as
// a store outage would, or hang until the caller's deadline.
type flakyStore struct {
	store.Store
	fail atomic.Bool
	hang atomic.Bool
}

func (f *flakyStore) check(ctx context.Context) error {
	if f.hang.Load() {
		<-ctx.Done()
		return fmt.Errorf("flaky store: %w: %w", store.ErrUnavailable, ctx.Err())
	}
	if f.fail.Load() {
		return fmt.Errorf("flaky store: %w", store.ErrUnavailable)
	}
	return nil
}

func (f *flakyStore) Mailbox(ctx context.Context, acct store.Account, name string) (store.Mailbox, error) {
	if err := f.check(ctx); err != nil {
		return store.Mailbox{}, err
	}
	return f.Store.Mailbox(ctx, acct, name)
}

func (f *flakyStore) UpdateFlags(ctx context.Context, acct store.Account, u store.FlagUpdate) (store.FlagResult, error) {
	if err := f.check(ctx); err != nil {
		return store.FlagResult{}, err
	}
	return f.Store.UpdateFlags(ctx, acct, u)
}

// flakyBlobs is the real blob store with the same switch.
type flakyBlobs struct {
	blob.Store
	fail atomic.Bool
}

func (f *flakyBlobs) Get(ctx context.Context, key blob.Key) ([]byte, error) {
	if f.fail.Load() {
		return nil, errors.New("flaky blobs: disk on fire")
	}
	return f.Store.Get(ctx, key)
}

// env is a running server with its stores.
type env struct {
	t       *testing.T
	srv     *Server
	store   *flakyStore
	blobs   *flakyBlobs
	addr    string
	tlsCfg  *tls.Config // client side
	certDER []byte
	msgs    map[store.Account][][]byte
}

const (
	alice = "alice@example.org"
	bob   = "bob@example.org"
)

// newEnv starts a server on 127.0.0.1 with the real SQLite and filesystem
// stores; configure may adjust the Server before it serves.
func newEnv(t *testing.T, implicitTLS bool, configure func(*Server)) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bs, err := fs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, clientTLS, der := testTLS(t)
	e := &env{t: t, store: &flakyStore{Store: st}, blobs: &flakyBlobs{Store: bs}, tlsCfg: clientTLS, certDER: der, msgs: map[store.Account][][]byte{}}
	e.srv = &Server{
		Store:              e.store,
		Blobs:              e.blobs,
		Auth:               testAuth{[]string{alice, bob}},
		TLS:                serverTLS,
		Hostname:           "pop.example.org",
		AllowPlainLoopback: true,
		CommandTimeout:     5 * time.Second,
	}
	if configure != nil {
		configure(e.srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = l.Addr().String()
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(l, implicitTLS) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return e
}

// deliver stores a message in the account's INBOX as the spool would.
func (e *env) deliver(acct store.Account, raw string) {
	e.t.Helper()
	ctx := context.Background()
	if err := e.store.EnsureAccount(ctx, acct); err != nil {
		e.t.Fatal(err)
	}
	key, err := e.blobs.Put(ctx, []byte(raw))
	if err != nil {
		e.t.Fatal(err)
	}
	_, err = e.store.Deliver(ctx, store.Delivery{
		Key:     fmt.Sprintf("%d-%d", acct, len(e.msgs[acct])),
		Account: acct,
		Message: store.NewMessage{Blob: key, Size: int64(len(raw)), Meta: message.Parse([]byte(raw))},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.msgs[acct] = append(e.msgs[acct], []byte(raw))
}

// inbox returns the UIDs in the account's INBOX.
func (e *env) inbox(acct store.Account) []uint32 {
	e.t.Helper()
	ctx := context.Background()
	mb, err := e.store.Store.Mailbox(ctx, acct, store.Inbox)
	if err != nil {
		e.t.Fatal(err)
	}
	var uids []uint32
	err = e.store.Store.Messages(ctx, acct, store.Query{Mailbox: mb.ID}, func(m *store.Message) error {
		uids = append(uids, m.UID)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return uids
}

// client is a POP3 client over net/textproto.
type client struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
}

func (e *env) dial(implicitTLS bool) *client {
	e.t.Helper()
	var conn net.Conn
	var err error
	if implicitTLS {
		conn, err = tls.Dial("tcp", e.addr, e.tlsCfg)
	} else {
		conn, err = net.Dial("tcp", e.addr)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &client{t: e.t, conn: conn, tp: textproto.NewConn(conn)}
	e.t.Cleanup(func() { conn.Close() })
	c.expect("+OK pop.example.org ")
	return c
}

// cmd sends a command and returns the first line of the reply.
func (c *client) cmd(format string, args ...any) string {
	c.t.Helper()
	if err := c.tp.PrintfLine(format, args...); err != nil {
		c.t.Fatalf("send %q: %v", format, err)
	}
	return c.line()
}

func (c *client) line() string {
	c.t.Helper()
	l, err := c.tp.ReadLine()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return l
}

// expect reads a line and checks its prefix.
func (c *client) expect(prefix string) string {
	c.t.Helper()
	l := c.line()
	if !strings.HasPrefix(l, prefix) {
		c.t.Fatalf("got %q, want prefix %q", l, prefix)
	}
	return l
}

// ok sends a command and requires +OK.
func (c *client) ok(format string, args ...any) string {
	c.t.Helper()
	l := c.cmd(format, args...)
	if !strings.HasPrefix(l, "+OK") {
		c.t.Fatalf("%s: got %q", fmt.Sprintf(format, args...), l)
	}
	return l
}

// multi reads the rest of a multi-line reply exactly as sent: CRLF line
// endings kept, dot-stuffing undone.
func (c *client) multi() []byte {
	c.t.Helper()
	var out []byte
	for {
		l, err := c.tp.R.ReadSlice('\n')
		if err != nil {
			c.t.Fatalf("read multi-line reply: %v", err)
		}
		if string(l) == ".\r\n" {
			return out
		}
		if !strings.HasSuffix(string(l), "\r\n") {
			c.t.Fatalf("line without CRLF: %q", l)
		}
		if l[0] == '.' {
			l = l[1:]
		}
		out = append(out, l...)
	}
}

func (c *client) login(addr string) {
	c.t.Helper()
	c.ok("USER %s", addr)
	c.ok("PASS %s", testPassword)
}

// testTLS returns a server and a client TLS configuration around a fresh
// self-signed certificate for pop.example.org, and the certificate.
func testTLS(t *testing.T) (server, client *tls.Config, der []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"pop.example.org"},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	client = &tls.Config{RootCAs: pool, ServerName: "pop.example.org"}
	return server, client, der
}

// startTLS runs STLS and the TLS handshake.
func (c *client) startTLS(cfg *tls.Config) {
	c.t.Helper()
	c.ok("STLS")
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("handshake: %v", err)
	}
	c.conn = tc
	c.tp = textproto.NewConn(tc)
}

func newTextproto(conn net.Conn) *textproto.Conn { return textproto.NewConn(conn) }

// tlsConn runs a client handshake on conn.
func tlsConn(t *testing.T, conn net.Conn, e *env) net.Conn {
	t.Helper()
	tc := tls.Client(conn, e.tlsCfg)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return tc
}

// caPEM returns the PEM of the test certificate, for other clients.
func (e *env) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.certDER})
}

// uidl returns the unique-id listing the server must give a message.
func (e *env) uidl(acct store.Account, uid uint32) string {
	e.t.Helper()
	mb, err := e.store.Store.Mailbox(context.Background(), acct, store.Inbox)
	if err != nil {
		e.t.Fatal(err)
	}
	return fmt.Sprintf("%d.%d", mb.UIDValidity, uid)
}

func itoa(n int) string { return strconv.Itoa(n) }
