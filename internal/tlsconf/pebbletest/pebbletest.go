// Package pebbletest runs Pebble, Let's Encrypt's ACME test server
// (RFC 8555), on loopback for tests: it validates challenges for real,
// connecting to the ports the test names and resolving names through the
// test's DNS server. It never mocks the CA: the point of the tests is to
// meet an ACME server written by someone else.
//
// The binary is looked up on PATH, then in $(go env GOPATH)/bin, where
// .ci/run installs it. Tests skip, saying how to install it, when it is
// in neither place, except under CI=true, where that is a failure.
package pebbletest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"casella/internal/gobin"
)

// Install is the command that installs the pinned version; keep .ci/run
// in step.
const Install = "go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3"

// Options say where Pebble validates challenges.
type Options struct {
	HTTPPort int    // where http-01 is checked
	TLSPort  int    // where tls-alpn-01 is checked
	DNS      string // host:port of the DNS server resolving the names
	// Validity is the lifetime of the certificates issued; 0 is Pebble's
	// default of 90 days.
	Validity time.Duration
}

// Server is a running Pebble.
type Server struct {
	DirectoryURL string
	// CAFile is the PEM root of Pebble's own HTTPS certificate, for the
	// client's ca_file.
	CAFile string
	mgmt   string
	client *http.Client
}

// Start starts Pebble; it stops when tb's test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	bin := gobin.Path("pebble")
	if bin == "" {
		if os.Getenv("CI") != "" {
			tb.Fatalf("pebble is not installed (neither on PATH nor in $(go env GOPATH)/bin); .ci/run should have run %q", Install)
		}
		tb.Skipf("pebble is not installed (neither on PATH nor in $(go env GOPATH)/bin); the ACME tests need a real ACME server: run %q", Install)
	}
	dir := tb.TempDir()
	caPEM, certPEM, keyPEM := serverCert(tb)
	s := &Server{CAFile: filepath.Join(dir, "ca.pem")}
	for name, data := range map[string][]byte{"ca.pem": caPEM, "cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	s.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}

	validity := int64(opts.Validity / time.Second)
	if validity == 0 {
		validity = 90 * 24 * 3600
	}
	var lastErr error
	// The ports are chosen by the kernel, freed and handed to Pebble; in
	// the rare case another process takes one in between, try again.
	for range 5 {
		listen, mgmt := freePort(tb), freePort(tb)
		conf := map[string]any{"pebble": map[string]any{
			"listenAddress":                  listen,
			"managementListenAddress":        mgmt,
			"certificate":                    filepath.Join(dir, "cert.pem"),
			"privateKey":                     filepath.Join(dir, "key.pem"),
			"httpPort":                       opts.HTTPPort,
			"tlsPort":                        opts.TLSPort,
			"ocspResponderURL":               "",
			"externalAccountBindingRequired": false,
			"retryAfter":                     map[string]int{"authz": 1, "order": 1},
			"keyAlgorithm":                   "ecdsa",
			"profiles":                       map[string]any{"default": map[string]any{"description": "casella tests", "validityPeriod": validity}},
		}}
		data, err := json.Marshal(conf)
		if err != nil {
			tb.Fatal(err)
		}
		confFile := filepath.Join(dir, "pebble.json")
		if err := os.WriteFile(confFile, data, 0o600); err != nil {
			tb.Fatal(err)
		}
		s.DirectoryURL, s.mgmt = "https://"+listen+"/dir", "https://"+mgmt
		if lastErr = s.run(tb, bin, confFile, opts.DNS); lastErr == nil {
			return s
		}
	}
	tb.Fatalf("start pebble: %v", lastErr)
	return nil
}

// run starts the process and waits for its directory to answer.
func (s *Server) run(tb testing.TB, bin, confFile, dns string) error {
	cmd := exec.Command(bin, "-config", confFile, "-dnsserver", dns)
	// No sleeps before validating, and no refused nonces: Pebble's
	// defaults exercise clients' patience, not what these tests check.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("pebble exited: %v\n%s", err, out.String())
		default:
		}
		resp, err := s.client.Get(s.DirectoryURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				tb.Cleanup(func() {
					cmd.Process.Kill()
					<-exited
					if tb.Failed() {
						tb.Logf("pebble's output:\n%s", out.String())
					}
				})
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	<-exited
	return fmt.Errorf("pebble did not answer within 20s:\n%s", out.String())
}

// Roots returns the roots Pebble issues under, from its management
// interface: what a client of a server with Pebble's certificates
// trusts.
func (s *Server) Roots(tb testing.TB) *x509.CertPool {
	tb.Helper()
	resp, err := s.client.Get(s.mgmt + "/roots/0")
	if err != nil {
		tb.Fatalf("pebble roots: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("pebble roots: %v %s", err, resp.Status)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		tb.Fatalf("pebble roots: no PEM certificate in %q", data)
	}
	return pool
}

// serverCert makes a CA and a certificate for 127.0.0.1 and localhost
// signed by it, for Pebble's own HTTPS.
func serverCert(tb testing.TB) (caPEM, certPEM, keyPEM []byte) {
	tb.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebbletest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caTmpl, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// freePort returns a loopback address whose port was free a moment ago.
func freePort(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("pick a port for pebble: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// lockedBuffer collects the process's output, written by exec's copying
// goroutines while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
