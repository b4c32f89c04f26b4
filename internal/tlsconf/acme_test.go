package tlsconf

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"casella/internal/resolver/dnstest"
	"casella/internal/tlsconf/pebbletest"
)

// acmeHarness is a server's two listeners, Pebble validating against
// them, and a DNS server pointing the test names at loopback.
type acmeHarness struct {
	conf      *tls.Config
	tlsAddr   string
	httpPort  int
	pebble    *pebbletest.Server
	dataDir   string
	mu        sync.Mutex
	issued    map[string]int
	failed    map[string]int
	acme      *ACME
	fallback  []byte // the self-signed certificate's DER
	validity  time.Duration
	challenge string
}

func startACME(t *testing.T, challenge string, validity time.Duration, names ...string) *acmeHarness {
	t.Helper()
	dns := dnstest.Start(t)
	for _, n := range names {
		dns.Add(t, n+". 60 IN A 127.0.0.1")
	}
	h := &acmeHarness{dataDir: t.TempDir(), issued: map[string]int{}, failed: map[string]int{}, challenge: challenge, validity: validity}
	conf, err := Load("", "", h.dataDir, "mx.example.test")
	if err != nil {
		t.Fatal(err)
	}
	h.conf, h.fallback = conf, conf.Certificates[0].Certificate[0]
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.tlsAddr = tl.Addr().String()
	h.httpPort = hl.Addr().(*net.TCPAddr).Port
	h.pebble = pebbletest.Start(t, pebbletest.Options{
		HTTPPort: h.httpPort,
		TLSPort:  tl.Addr().(*net.TCPAddr).Port,
		DNS:      dns.Addr,
		Validity: validity,
	})
	h.acme = h.open(t, names)
	conf.GetCertificate, conf.GetConfigForClient = h.acme.GetCertificate, h.acme.GetConfigForClient
	// The TLS listener completes handshakes, as the IMAP or HTTPS
	// listeners do; tls-alpn-01 needs nothing more.
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, conf)
				tc.SetDeadline(time.Now().Add(5 * time.Second))
				tc.Handshake()
			}()
		}
	}()
	srv := &http.Server{Handler: h.acme.HTTPHandler(http.NotFoundHandler())}
	go srv.Serve(hl)
	t.Cleanup(func() { tl.Close(); srv.Close() })
	return h
}

// open makes a manager over the harness's data directory.
func (h *acmeHarness) open(t *testing.T, names []string) *ACME {
	t.Helper()
	a, err := NewACME(ACMEOptions{
		DirectoryURL: h.pebble.DirectoryURL,
		Email:        "postmaster@example.test",
		Challenge:    h.challenge,
		CAFile:       h.pebble.CAFile,
		Dir:          filepath.Join(h.dataDir, "acme"),
		Names:        func(context.Context) ([]string, error) { return names, nil },
		OnIssued: func(name string, _ time.Time) {
			h.mu.Lock()
			h.issued[name]++
			h.mu.Unlock()
		},
		OnFailed: func(name string) {
			h.mu.Lock()
			h.failed[name]++
			h.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (h *acmeHarness) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.acme.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (h *acmeHarness) counts(name string) (issued, failed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.issued[name], h.failed[name]
}

// served returns the leaf the TLS listener presents for name.
func (h *acmeHarness) served(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", h.tlsAddr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS to %s: %v", name, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// waitFor polls until cond holds.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestACMEObtainRenewTLSALPN(t *testing.T) {
	names := []string{"mx.example.test", "mta-sts.example.test"}
	h := startACME(t, TLSALPN01, 12*time.Second, names...)
	h.run(t)
	roots := h.pebble.Roots(t)
	first := map[string]*x509.Certificate{}
	for _, name := range names {
		waitFor(t, "a certificate for "+name, 30*time.Second, func() bool { n, _ := h.counts(name); return n > 0 })
		leaf := h.served(t, name)
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: intermediates(t, name, h)}); err != nil {
			t.Fatalf("the certificate served for %s does not verify against Pebble's root: %v", name, err)
		}
		first[name] = leaf
	}
	// A name with no certificate of its own still gets the fallback.
	if got := h.served(t, "other.example.test"); !bytes.Equal(got.Raw, h.fallback) {
		t.Fatalf("other.example.test got %s, want the self-signed fallback", got.Subject)
	}
	// A third of 12 s is left after 8 s: the certificate is renewed and
	// the new one served without a restart.
	for _, name := range names {
		waitFor(t, "a renewal for "+name, 30*time.Second, func() bool {
			return h.served(t, name).SerialNumber.Cmp(first[name].SerialNumber) != 0
		})
		if _, failed := h.counts(name); failed != 0 {
			t.Fatalf("%s: %d failed attempts", name, failed)
		}
	}
	// Keys are secrets.
	dir := filepath.Join(h.dataDir, "acme")
	for _, f := range []string{dir, filepath.Join(dir, "account.key"), filepath.Join(dir, names[0]+".pem")} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Fatalf("%s has mode %v; want no access for group and others", f, fi.Mode().Perm())
		}
	}
}

// intermediates returns the chain the server sends after its leaf.
func intermediates(t *testing.T, name string, h *acmeHarness) *x509.CertPool {
	t.Helper()
	c, err := tls.Dial("tcp", h.tlsAddr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pool := x509.NewCertPool()
	for _, ic := range c.ConnectionState().PeerCertificates[1:] {
		pool.AddCert(ic)
	}
	return pool
}

func TestACMEHTTP01AndRestart(t *testing.T) {
	const name = "autoconfig.example.test"
	h := startACME(t, HTTP01, 0, name)
	h.run(t)
	waitFor(t, "a certificate for "+name, 30*time.Second, func() bool { n, _ := h.counts(name); return n > 0 })
	leaf := h.served(t, name)
	if leaf.NotAfter.Sub(leaf.NotBefore) < 80*24*time.Hour {
		t.Fatalf("certificate valid %v; want Pebble's 90 days", leaf.NotAfter.Sub(leaf.NotBefore))
	}
	// A restart serves the kept certificate before asking the CA
	// anything, and does not ask for a new one.
	again := h.open(t, []string{name})
	got, err := again.GetCertificate(&tls.ClientHelloInfo{ServerName: name})
	if err != nil || got == nil || !bytes.Equal(got.Leaf.Raw, leaf.Raw) {
		t.Fatalf("after a restart: %v, %v; want the kept certificate", got, err)
	}
	if wait := again.round(t.Context()); wait < time.Hour-time.Minute {
		t.Fatalf("after a restart the next round is in %v; the kept certificate needs nothing for weeks", wait)
	}
	if st := again.Statuses(); len(st) != 1 || st[0].Name != name || !st[0].NotAfter.Equal(leaf.NotAfter) || st[0].Err != nil {
		t.Fatalf("statuses %+v", st)
	}
}

func TestACMEFailureKeepsFallback(t *testing.T) {
	// autodiscover.example.test is not in DNS: Pebble cannot validate it.
	h := startACME(t, TLSALPN01, 0, "mx.example.test")
	h.acme.opts.Names = func(context.Context) ([]string, error) {
		return []string{"autodiscover.example.test", "mx.example.test"}, nil
	}
	wait := h.acme.round(t.Context())
	if issued, _ := h.counts("mx.example.test"); issued != 1 {
		t.Fatalf("mx.example.test issued %d times, want 1: one failing name must not hold up the others; %+v", issued, h.acme.Statuses())
	}
	if _, failed := h.counts("autodiscover.example.test"); failed != 1 {
		t.Fatalf("autodiscover.example.test failed %d times, want 1", failed)
	}
	if wait < retryMin/2 || wait > retryMin {
		t.Fatalf("next round in %v, want the failure's backoff of at most %v", wait, retryMin)
	}
	if got := h.served(t, "autodiscover.example.test"); !bytes.Equal(got.Raw, h.fallback) {
		t.Fatalf("autodiscover.example.test got %s, want the self-signed fallback", got.Subject)
	}
	st := h.acme.Statuses()
	if len(st) != 2 || st[0].Name != "autodiscover.example.test" || st[0].Err == nil || st[0].Retry.IsZero() || !st[0].NotAfter.IsZero() {
		t.Fatalf("statuses %+v; want autodiscover's failure first", st)
	}
	// Not yet due again: a second round leaves the failing name alone.
	h.acme.round(t.Context())
	if _, failed := h.counts("autodiscover.example.test"); failed != 1 {
		t.Fatalf("retried before its backoff: %d failures", failed)
	}
}

func TestACMEOptionErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		opts ACMEOptions
		want string
	}{
		{ACMEOptions{Challenge: "dns-01", Dir: dir}, "unknown challenge"},
		{ACMEOptions{Challenge: HTTP01, Dir: dir, CAFile: filepath.Join(dir, "missing.pem")}, "ca_file"},
	} {
		if _, err := NewACME(tc.opts); err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
			t.Errorf("NewACME(%+v) = %v, want an error with %q", tc.opts, err, tc.want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "account.key"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := NewACME(ACMEOptions{Challenge: HTTP01, Dir: dir})
	if err == nil || errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a junk account key: %v", err)
	}
}
