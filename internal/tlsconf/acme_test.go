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
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"casella/internal/resolver/dnstest"
	"casella/internal/tlsconf/pebbletest"
)

// acmeHarness is Pebble, a DNS server pointing the test names at
// loopback, and a cache that the nodes of the test share.
type acmeHarness struct {
	pebble    *pebbletest.Server
	cacheDir  string
	challenge string
}

// acmeNode is one server: its TLS and HTTP listeners and its manager.
type acmeNode struct {
	conf     *tls.Config
	tlsAddr  string
	acme     *ACME
	fallback []byte // the self-signed certificate's DER
	mu       sync.Mutex
	issued   map[string]int
	failed   map[string]int
}

// startACME starts Pebble validating against the listeners of the
// harness's first node, and returns both.
func startACME(t *testing.T, challenge string, validity time.Duration, names ...string) (*acmeHarness, *acmeNode) {
	t.Helper()
	dns := dnstest.Start(t)
	for _, n := range names {
		dns.Add(t, n+". 60 IN A 127.0.0.1")
	}
	h := &acmeHarness{cacheDir: filepath.Join(t.TempDir(), "acme"), challenge: challenge}
	tl, hl := listen(t), listen(t)
	h.pebble = pebbletest.Start(t, pebbletest.Options{
		HTTPPort: hl.Addr().(*net.TCPAddr).Port,
		TLSPort:  tl.Addr().(*net.TCPAddr).Port,
		DNS:      dns.Addr,
		Validity: validity,
	})
	return h, h.serve(t, tl, hl, names)
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// serve makes a node on the listeners, with its own self-signed fallback
// and a manager over the harness's cache.
func (h *acmeHarness) serve(t *testing.T, tl, hl net.Listener, names []string) *acmeNode {
	t.Helper()
	conf, err := Load("", "", t.TempDir(), "mx.example.test")
	if err != nil {
		t.Fatal(err)
	}
	n := &acmeNode{conf: conf, tlsAddr: tl.Addr().String(), fallback: conf.Certificates[0].Certificate[0], issued: map[string]int{}, failed: map[string]int{}}
	n.acme = h.open(t, n, names)
	conf.GetCertificate, conf.GetConfigForClient = n.acme.GetCertificate, n.acme.GetConfigForClient
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
	srv := &http.Server{Handler: n.acme.HTTPHandler(http.NotFoundHandler())}
	go srv.Serve(hl)
	t.Cleanup(func() { srv.Close() })
	return n
}

// open makes a manager over the harness's cache, counting into n.
func (h *acmeHarness) open(t *testing.T, n *acmeNode, names []string) *ACME {
	t.Helper()
	cache, err := NewFileCache(h.cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewACME(ACMEOptions{
		DirectoryURL: h.pebble.DirectoryURL,
		Email:        "postmaster@example.test",
		Challenge:    h.challenge,
		CAFile:       h.pebble.CAFile,
		Cache:        cache,
		Names:        func(context.Context) ([]string, error) { return names, nil },
		OnIssued: func(name string) {
			n.mu.Lock()
			n.issued[name]++
			n.mu.Unlock()
		},
		OnFailed: func(name string) {
			n.mu.Lock()
			n.failed[name]++
			n.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (n *acmeNode) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.acme.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (n *acmeNode) counts(name string) (issued, failed int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.issued[name], n.failed[name]
}

// served returns the leaf the TLS listener presents for name.
func (n *acmeNode) served(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", n.tlsAddr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
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
	h, n := startACME(t, TLSALPN01, 12*time.Second, names...)
	n.run(t)
	roots := h.pebble.Roots(t)
	first := map[string]*x509.Certificate{}
	for _, name := range names {
		waitFor(t, "a certificate for "+name, 30*time.Second, func() bool { i, _ := n.counts(name); return i > 0 })
		first[name] = n.verified(t, name, roots)
	}
	// A name with no certificate of its own still gets the fallback.
	if got := n.served(t, "other.example.test"); !bytes.Equal(got.Raw, n.fallback) {
		t.Fatalf("other.example.test got %s, want the self-signed fallback", got.Subject)
	}
	// A third of 12 s is left after 8 s (9.2 s at the most, with the
	// spread): the certificate is renewed and the new one served without
	// a restart.
	for _, name := range names {
		waitFor(t, "a renewal for "+name, 30*time.Second, func() bool {
			return n.served(t, name).SerialNumber.Cmp(first[name].SerialNumber) != 0
		})
		if _, failed := n.counts(name); failed != 0 {
			t.Fatalf("%s: %d failed attempts", name, failed)
		}
	}
	// Keys are secrets; the challenges' answers are gone once settled.
	entries, err := os.ReadDir(h.cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append([]string{h.cacheDir}, filepath.Join(h.cacheDir, "account.key"), filepath.Join(h.cacheDir, names[0]+".pem")) {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Fatalf("%s has mode %v; want no access for group and others", f, fi.Mode().Perm())
		}
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), "."+TLSALPN01) {
			t.Fatalf("%s is left in the cache", e.Name())
		}
	}
}

// verified returns the leaf served for name, failing unless its chain
// verifies against roots.
func (n *acmeNode) verified(t *testing.T, name string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", n.tlsAddr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	chain := c.ConnectionState().PeerCertificates
	pool := x509.NewCertPool()
	for _, ic := range chain[1:] {
		pool.AddCert(ic)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: pool}); err != nil {
		t.Fatalf("the certificate served for %s does not verify against Pebble's root: %v", name, err)
	}
	return chain[0]
}

func TestACMEHTTP01AndRestart(t *testing.T) {
	const name = "autoconfig.example.test"
	h, n := startACME(t, HTTP01, 0, name)
	n.run(t)
	waitFor(t, "a certificate for "+name, 30*time.Second, func() bool { i, _ := n.counts(name); return i > 0 })
	leaf := n.served(t, name)
	if leaf.NotAfter.Sub(leaf.NotBefore) < 80*24*time.Hour {
		t.Fatalf("certificate valid %v; want Pebble's 90 days", leaf.NotAfter.Sub(leaf.NotBefore))
	}
	// A restart serves the kept certificate before asking the CA
	// anything, and does not ask for a new one.
	again := h.open(t, &acmeNode{issued: map[string]int{}, failed: map[string]int{}}, []string{name})
	if err := again.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	got, err := again.GetCertificate(&tls.ClientHelloInfo{ServerName: name})
	if err != nil || got == nil || !bytes.Equal(got.Leaf.Raw, leaf.Raw) {
		t.Fatalf("after a restart: %v, %v; want the kept certificate", got, err)
	}
	if wait := again.round(t.Context()); wait < checkEvery-time.Minute {
		t.Fatalf("after a restart the next round is in %v; the kept certificate needs nothing for weeks", wait)
	}
	if st := again.Statuses(); len(st) != 1 || st[0].Name != name || !st[0].NotAfter.Equal(leaf.NotAfter) || st[0].Err != nil {
		t.Fatalf("statuses %+v", st)
	}
}

// Two nodes sharing a cache, as a cluster shares its directory: the CA's
// validation reaches the node that did not order, which answers from the
// cache, and the other node adopts the certificate instead of ordering
// its own.
func TestACMESharedCache(t *testing.T) {
	const name = "mx.example.test"
	for _, challenge := range []string{TLSALPN01, HTTP01} {
		t.Run(challenge, func(t *testing.T) {
			h, validator := startACME(t, challenge, 0, name)
			orderer := h.serve(t, listen(t), listen(t), []string{name})
			orderer.acme.round(t.Context())
			if issued, failed := orderer.counts(name); issued != 1 || failed != 0 {
				t.Fatalf("the ordering node: %d issued, %d failed; %+v", issued, failed, orderer.acme.Statuses())
			}
			if wait := validator.acme.round(t.Context()); wait < checkEvery-time.Minute {
				t.Fatalf("the other node's next round is in %v, want the periodic check", wait)
			}
			if issued, _ := validator.counts(name); issued != 0 {
				t.Fatalf("the other node ordered %d certificates; it should adopt the first", issued)
			}
			roots := h.pebble.Roots(t)
			if a, b := orderer.verified(t, name, roots), validator.verified(t, name, roots); !bytes.Equal(a.Raw, b.Raw) {
				t.Fatal("the nodes serve different certificates")
			}
		})
	}
}

// Two nodes sharing a cache that find a name without a certificate at
// the same moment: one orders it, the other waits and adopts it.
func TestACMEConcurrentClaim(t *testing.T) {
	const name = "mx.example.test"
	h, first := startACME(t, TLSALPN01, 0, name)
	second := h.serve(t, listen(t), listen(t), []string{name})
	var wg sync.WaitGroup
	waits := make([]time.Duration, 2)
	for i, n := range []*acmeNode{first, second} {
		wg.Go(func() { waits[i] = n.acme.round(t.Context()) })
	}
	wg.Wait()
	i1, _ := first.counts(name)
	i2, _ := second.counts(name)
	if i1+i2 != 1 {
		t.Fatalf("the nodes ordered %d and %d certificates, want one between them", i1, i2)
	}
	loser := first
	if i1 == 1 {
		loser = second
	}
	if w := min(waits[0], waits[1]); w > claimRecheck {
		t.Fatalf("the node that lost looks again in %v, want at most %v", w, claimRecheck)
	}
	loser.acme.round(t.Context())
	roots := h.pebble.Roots(t)
	if a, b := first.verified(t, name, roots), second.verified(t, name, roots); !bytes.Equal(a.Raw, b.Raw) {
		t.Fatal("the nodes serve different certificates")
	}
	if i, _ := loser.counts(name); i != 0 {
		t.Fatalf("the node that lost ordered %d certificates after the other's", i)
	}
}

func TestACMEFailureKeepsFallback(t *testing.T) {
	// autodiscover.example.test is not in DNS: Pebble cannot validate it.
	h, n := startACME(t, TLSALPN01, 0, "mx.example.test")
	n.acme.opts.Names = func(context.Context) ([]string, error) {
		return []string{"autodiscover.example.test", "mx.example.test"}, nil
	}
	wait := n.acme.round(t.Context())
	if issued, _ := n.counts("mx.example.test"); issued != 1 {
		t.Fatalf("mx.example.test issued %d times, want 1: one failing name must not hold up the others; %+v", issued, n.acme.Statuses())
	}
	if _, failed := n.counts("autodiscover.example.test"); failed != 1 {
		t.Fatalf("autodiscover.example.test failed %d times, want 1", failed)
	}
	if wait < retryMin/2 || wait > retryMin {
		t.Fatalf("next round in %v, want the failure's backoff of at most %v", wait, retryMin)
	}
	if got := n.served(t, "autodiscover.example.test"); !bytes.Equal(got.Raw, n.fallback) {
		t.Fatalf("autodiscover.example.test got %s, want the self-signed fallback", got.Subject)
	}
	st := n.acme.Statuses()
	if len(st) != 2 || st[0].Name != "autodiscover.example.test" || st[0].Err == nil || st[0].Retry.IsZero() || !st[0].NotAfter.IsZero() {
		t.Fatalf("statuses %+v; want autodiscover's failure first", st)
	}
	// Not yet due again: a second round leaves the failing name alone.
	n.acme.round(t.Context())
	if _, failed := n.counts("autodiscover.example.test"); failed != 1 {
		t.Fatalf("retried before its backoff: %d failures", failed)
	}
	// Nor does another node sharing the cache: the failed name's claim
	// holds until its retry, and mx.example.test is adopted.
	other := h.serve(t, listen(t), listen(t), []string{"autodiscover.example.test", "mx.example.test"})
	if wait := other.acme.round(t.Context()); wait > claimRecheck {
		t.Fatalf("the other node looks again in %v, want at most %v", wait, claimRecheck)
	}
	for _, name := range []string{"autodiscover.example.test", "mx.example.test"} {
		if issued, failed := other.counts(name); issued+failed != 0 {
			t.Fatalf("the other node tried %s: %d issued, %d failed", name, issued, failed)
		}
	}
}

func TestACMEOptionErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		opts ACMEOptions
		want string
	}{
		{ACMEOptions{Challenge: "dns-01"}, "unknown challenge"},
		{ACMEOptions{Challenge: HTTP01, CAFile: filepath.Join(dir, "missing.pem")}, "ca_file"},
	} {
		if _, err := NewACME(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewACME(%+v) = %v, want an error with %q", tc.opts, err, tc.want)
		}
	}
	// A junk account key is reported, not replaced: it may be another
	// node's being written.
	cache, err := NewFileCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.Put(t.Context(), "account.key", []byte("junk")); err != nil {
		t.Fatal(err)
	}
	a, err := NewACME(ACMEOptions{Challenge: HTTP01, Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.register(t.Context()); err == nil || !strings.Contains(err.Error(), "account.key") {
		t.Fatalf("a junk account key: %v", err)
	}
}

func TestFileCache(t *testing.T) {
	c, err := NewFileCache(filepath.Join(t.TempDir(), "acme"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, key := range []string{"", "../x", "a/b", ".hidden", `a\b`} {
		if err := c.Put(ctx, key, []byte("x")); err == nil {
			t.Errorf("Put(%q) succeeded", key)
		}
	}
	if _, err := c.Get(ctx, "mx.example.test.pem"); !errors.Is(err, autocert.ErrCacheMiss) {
		t.Fatalf("missing key: %v, want autocert.ErrCacheMiss", err)
	}
	if err := c.Put(ctx, "mx.example.test.pem", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, "mx.example.test.pem"); err != nil || string(got) != "secret" {
		t.Fatalf("get: %q, %v", got, err)
	}
	if err := c.Delete(ctx, "mx.example.test.pem"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "mx.example.test.pem"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
}

// A CA that cannot be reached fails the first name of a round, and the
// others wait with it instead of each spending its own timeout.
func TestACMEUnreachableCA(t *testing.T) {
	l := listen(t)
	addr := l.Addr().String()
	l.Close()
	cache, err := NewFileCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	a, err := NewACME(ACMEOptions{
		DirectoryURL: "https://" + addr + "/dir",
		Challenge:    TLSALPN01,
		Cache:        cache,
		Names:        func(context.Context) ([]string, error) { return []string{"a.example.test", "b.example.test"}, nil },
		OnFailed:     func(name string) { failed = append(failed, name) },
	})
	if err != nil {
		t.Fatal(err)
	}
	wait := a.round(t.Context())
	if len(failed) != 1 || failed[0] != "a.example.test" {
		t.Fatalf("failed %v, want only the first name tried", failed)
	}
	if wait < retryMin/2 || wait > retryMin {
		t.Fatalf("next round in %v, want the backoff", wait)
	}
	if st := a.Statuses(); len(st) != 1 || st[0].Err == nil || !strings.Contains(st[0].Err.Error(), "connection refused") {
		t.Fatalf("statuses %+v", st)
	}
}
