package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"casella/internal/resolver/dnstest"
	"casella/internal/tlsconf/pebbletest"
)

// casella serve with [acme] against Pebble, Let's Encrypt's test CA:
// the hostname and the mta-sts, autoconfig and autodiscover hosts of
// the local domain get certificates that verify against Pebble's root,
// proved by tls-alpn-01 on the HTTPS listener; the IMAPS listener serves
// them too; with certificates living 15 seconds they are renewed and the
// new ones served without a restart; /metrics counts what was issued,
// /api/status and casella cert status list them.
func TestACMEWithPebble(t *testing.T) {
	names := []string{"mx.example.test", "mta-sts.example.test", "autoconfig.example.test", "autodiscover.example.test"}
	dns := dnstest.Start(t)
	for _, n := range names {
		dns.Add(t, n+". 60 IN A 127.0.0.1")
	}
	// Pebble checks tls-alpn-01 on the HTTPS listener, whose port must be
	// known before either starts.
	httpsPort := freePort(t)
	port, _ := strconv.Atoi(httpsPort)
	pebble := pebbletest.Start(t, pebbletest.Options{TLSPort: port, HTTPPort: 1, DNS: dns.Addr, Validity: 15 * time.Second})

	data, config := newData(t, `
[acme]
enabled = true
email = "postmaster@example.test"
directory_url = "`+pebble.DirectoryURL+`"
ca_file = "`+pebble.CAFile+`"
`)
	rewriteConfig(t, config, "[http]\n", "[http]\ntls_listen = \"127.0.0.1:"+httpsPort+"\"\n")
	if out, err := runCasella(data, config, "domain", "add", "example.test"); err != nil {
		t.Fatalf("domain add: %v\n%s", err, out)
	}
	s := startServer(t, data, config)
	roots := pebble.Roots(t)

	// served returns the chain a listener presents for name, verified
	// against Pebble's root; nil while it still presents the fallback.
	served := func(listener, name string) *x509.Certificate {
		t.Helper()
		c, err := tls.Dial("tcp", s.addr(listener), &tls.Config{ServerName: name, InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("TLS to %s for %s: %v", listener, name, err)
		}
		defer c.Close()
		chain := c.ConnectionState().PeerCertificates
		inter := x509.NewCertPool()
		for _, ic := range chain[1:] {
			inter.AddCert(ic)
		}
		if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter}); err != nil {
			return nil
		}
		return chain[0]
	}
	first := map[string]*x509.Certificate{}
	for _, name := range names {
		waitFor(t, 60*time.Second, "a certificate from Pebble for "+name, func() bool {
			first[name] = served("https", name)
			return first[name] != nil
		})
	}
	if served("imaps", "mx.example.test") == nil {
		t.Fatal("the IMAPS listener does not serve the ACME certificate")
	}
	// The self-signed certificate stays for names without one.
	if served("https", "other.example.test") != nil {
		t.Fatal("a name outside the configuration got a Pebble certificate")
	}
	for _, name := range names {
		waitFor(t, 60*time.Second, "a renewed certificate for "+name, func() bool {
			c := served("https", name)
			return c != nil && c.SerialNumber.Cmp(first[name].SerialNumber) != 0
		})
	}

	resp, err := http.Get("http://" + s.addr("http") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`(?m)^casella_acme_certificates_total\{result="issued"\} (\d+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no issued certificates:\n%s", body)
	}
	if n, _ := strconv.Atoi(string(m[1])); n < 2*len(names) {
		t.Fatalf("/metrics counts %d certificates issued, want at least %d", n, 2*len(names))
	}
	if !regexp.MustCompile(`(?m)^casella_acme_certificate_expiry_timestamp_seconds\{name="mta-sts.example.test"\} `).Match(body) {
		t.Fatal("/metrics has no expiry for mta-sts.example.test")
	}
	if !strings.Contains(s.log(), "certificate obtained") {
		t.Fatalf("the log does not say a certificate was obtained:\n%s", s.log())
	}

	// /api/status shows each name's expiry.
	resp, err = http.Get("http://" + s.addr("http") + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	var status struct {
		Certificates []struct {
			Name     string
			NotAfter time.Time
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&status)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(status.Certificates) != len(names) {
		t.Fatalf("/api/status lists %+v, want the %d names", status.Certificates, len(names))
	}
	for _, c := range status.Certificates {
		if c.NotAfter.Before(time.Now().Add(-time.Minute)) || c.NotAfter.After(time.Now().Add(time.Minute)) {
			t.Fatalf("/api/status: %s expires %v, want within 15 s", c.Name, c.NotAfter)
		}
	}

	// casella cert status lists every name with its certificate.
	out := s.casella("cert", "status")
	for _, name := range names {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s+Pebble`).MatchString(out) {
			t.Fatalf("cert status shows no Pebble certificate for %s:\n%s", name, out)
		}
	}

	// The keys are kept for the next start, readable by the server only.
	fi, err := os.Stat(filepath.Join(data, "acme", "mx.example.test.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mx.example.test.pem has mode %v, want 0600", fi.Mode().Perm())
	}
}
