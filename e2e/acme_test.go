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
	names := acmeNames
	dns := acmeDNS(t)
	// Pebble checks tls-alpn-01 on the HTTPS listener, whose port must be
	// known before either starts.
	httpsPort := freePort(t)
	port, _ := strconv.Atoi(httpsPort)
	pebble := pebbletest.Start(t, pebbletest.Options{TLSPort: port, HTTPPort: 1, DNS: dns.Addr, Validity: 15 * time.Second})

	data, config := newData(t, acmeConfig(pebble))
	rewriteConfig(t, config, "[http]\n", "[http]\ntls_listen = \"127.0.0.1:"+httpsPort+"\"\n")
	if out, err := runCasella(data, config, "domain", "add", "example.test"); err != nil {
		t.Fatalf("domain add: %v\n%s", err, out)
	}
	s := startServer(t, data, config)
	roots := pebble.Roots(t)

	served := func(listener, name string) *x509.Certificate { return acmeServed(t, s, listener, name, roots) }
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

	body := metrics(t, s)
	if n := acmeIssued(body); n < 2*len(names) {
		t.Fatalf("/metrics counts %d certificates issued, want at least %d", n, 2*len(names))
	}
	if !regexp.MustCompile(`(?m)^casella_acme_certificate_expiry_timestamp_seconds\{name="mta-sts.example.test"\} `).Match(body) {
		t.Fatal("/metrics has no expiry for mta-sts.example.test")
	}
	if !strings.Contains(s.log(), "certificate obtained") {
		t.Fatalf("the log does not say a certificate was obtained:\n%s", s.log())
	}

	// /api/status shows each name's expiry.
	resp, err := http.Get("http://" + s.addr("http") + "/api/status")
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

// acmeNames are the names of the e2e server configured for ACME: its
// hostname and the hosts of its one domain.
var acmeNames = []string{"mx.example.test", "mta-sts.example.test", "autoconfig.example.test", "autodiscover.example.test"}

// acmeDNS starts the DNS server Pebble resolves acmeNames with.
func acmeDNS(t *testing.T) *dnstest.Server {
	dns := dnstest.Start(t)
	for _, n := range acmeNames {
		dns.Add(t, n+". 60 IN A 127.0.0.1")
	}
	return dns
}

// acmeConfig is the [acme] section for Pebble.
func acmeConfig(pebble *pebbletest.Server) string {
	return `
[acme]
enabled = true
email = "postmaster@example.test"
directory_url = "` + pebble.DirectoryURL + `"
ca_file = "` + pebble.CAFile + `"
`
}

// acmeServed returns the leaf a listener of s presents for name, its
// chain verified against roots; nil while it presents the fallback.
func acmeServed(t *testing.T, s *server, listener, name string, roots *x509.CertPool) *x509.Certificate {
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

// metrics returns the /metrics page of s.
func metrics(t *testing.T, s *server) []byte {
	t.Helper()
	resp, err := http.Get("http://" + s.addr("http") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// acmeIssued returns the certificates a /metrics page counts as issued.
func acmeIssued(body []byte) int {
	m := regexp.MustCompile(`(?m)^casella_acme_certificates_total\{result="issued"\} (\d+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// A cluster of two nodes over one PostgreSQL directory, both with [acme]:
// each name is ordered once between them (a claim in the directory's
// cache), the validation answered on the node Pebble connects to
// whichever node ordered, and both nodes serve the same certificates.
func TestClusterACME(t *testing.T) {
	dns := acmeDNS(t)
	ports := []string{freePort(t), freePort(t)}
	port, _ := strconv.Atoi(ports[1])
	// Pebble validates on the second node only.
	pebble := pebbletest.Start(t, pebbletest.Options{TLSPort: port, HTTPPort: 1, DNS: dns.Addr})
	c := startClusterThen(t, 0, func(c *cluster) {
		for i, s := range c.nodes {
			setConfig(t, s.config, "http", `tls_listen = "127.0.0.1:`+ports[i]+`"`)
			f, err := os.OpenFile(s.config, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(acmeConfig(pebble))
			f.Close()
		}
	})
	roots := pebble.Roots(t)
	for _, name := range acmeNames {
		var certs [2]*x509.Certificate
		waitFor(t, 90*time.Second, "both nodes serving a certificate for "+name, func() bool {
			for i, s := range c.nodes {
				certs[i] = acmeServed(t, s, "https", name, roots)
			}
			return certs[0] != nil && certs[1] != nil
		})
		if certs[0].SerialNumber.Cmp(certs[1].SerialNumber) != 0 {
			t.Fatalf("the nodes serve different certificates for %s", name)
		}
	}
	bodies := [][]byte{metrics(t, c.nodes[0]), metrics(t, c.nodes[1])}
	for i, body := range bodies {
		for _, name := range acmeNames {
			if !regexp.MustCompile(`(?m)^casella_acme_certificate_expiry_timestamp_seconds\{name="` + regexp.QuoteMeta(name) + `"\} `).Match(body) {
				t.Fatalf("node %d's /metrics has no expiry for %s, which it serves", i+1, name)
			}
		}
	}
	issued := []int{acmeIssued(bodies[0]), acmeIssued(bodies[1])}
	t.Logf("certificates ordered by node 1: %d, by node 2: %d", issued[0], issued[1])
	if issued[0]+issued[1] != len(acmeNames) {
		t.Fatalf("the nodes ordered %v certificates, want %d between them, one per name", issued, len(acmeNames))
	}
	// Nothing is kept on the nodes' disks: the directory keeps it.
	for _, s := range c.nodes {
		if _, err := os.Stat(filepath.Join(s.data, "acme")); !os.IsNotExist(err) {
			t.Fatalf("%s/acme exists (%v); a PostgreSQL directory keeps the ACME cache", s.data, err)
		}
	}
}
