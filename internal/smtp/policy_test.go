package smtp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"casella/internal/mtasts"
	"casella/internal/tlsconf"
	"casella/internal/tlsrpt"
)

// certPeer starts an SMTP peer on l whose STARTTLS certificate names
// host, and returns it with the certificate.
func certPeer(t *testing.T, l net.Listener, host string) (*smarthost, *x509.Certificate) {
	t.Helper()
	cfg, cert := selfSignedFor(t, host)
	return startSMTPPeer(t, l, cfg, false), cert
}

// selfSignedFor returns a server TLS configuration with a self-signed
// certificate for host, and the certificate.
func selfSignedFor(t *testing.T, host string) (*tls.Config, *x509.Certificate) {
	t.Helper()
	cfg, err := tlsconf.Load("", "", t.TempDir(), host)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return cfg, cert
}

func spkiSHA256(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// Under DANE (RFC 7672) the exchanger's certificate must match its TLSA
// record: a certificate that does not, or an exchanger without STARTTLS,
// gets nothing, where opportunistic TLS would have sent the message.
func TestDirectDANE(t *testing.T) {
	ls, port := listenAll(t, "127.0.0.2", "127.0.0.3")
	good, cert := certPeer(t, ls[0], "mx.secure.test")
	plain := startSMTPPeer(t, ls[1], nil, false)
	d, dnsSrv := testDirect(t, port,
		"secure.test. 300 IN MX 10 mx.secure.test.",
		"mx.secure.test. 300 IN A 127.0.0.2",
		"_25._tcp.mx.secure.test. 300 IN TLSA 3 1 1 "+spkiSHA256(cert),
		"wrong.test. 300 IN MX 10 mx.wrong.test.",
		"mx.wrong.test. 300 IN A 127.0.0.2",
		"_25._tcp.mx.wrong.test. 300 IN TLSA 3 1 1 "+spkiSHA256(cert)[:62]+"00",
		"stripped.test. 300 IN MX 10 mx.stripped.test.",
		"mx.stripped.test. 300 IN A 127.0.0.3",
		"_25._tcp.mx.stripped.test. 300 IN TLSA 3 1 1 "+spkiSHA256(cert),
		"unsigned.test. 300 IN MX 10 mx.unsigned.test.",
		"mx.unsigned.test. 300 IN A 127.0.0.2",
		"_25._tcp.mx.unsigned.test. 300 IN TLSA 3 1 1 00",
	)
	for _, zone := range []string{"secure.test", "wrong.test", "stripped.test"} {
		dnsSrv.Sign(zone)
	}
	d.Reports = &tlsrpt.Recorder{Dir: t.TempDir(), Logger: discardLogger()}
	ctx := context.Background()
	if _, err := d.Deliver(ctx, "a@example.test", "b@secure.test", []byte(testMsg)); err != nil {
		t.Fatalf("matching TLSA: %v", err)
	}
	if _, err := d.Deliver(ctx, "a@example.test", "b@wrong.test", []byte(testMsg)); err == nil || isPermanent(err) {
		t.Fatalf("certificate not matching its TLSA record: %v, want a temporary failure", err)
	}
	if _, err := d.Deliver(ctx, "a@example.test", "b@stripped.test", []byte(testMsg)); err == nil || isPermanent(err) {
		t.Fatalf("DANE exchanger without STARTTLS: %v, want a temporary failure", err)
	}
	// TLSA records of an unsigned zone mean nothing: opportunistic TLS.
	if _, err := d.Deliver(ctx, "a@example.test", "b@unsigned.test", []byte(testMsg)); err != nil {
		t.Fatalf("unsigned zone: %v", err)
	}
	if n, m := len(good.received()), len(plain.received()); n != 2 || m != 0 {
		t.Fatalf("the DANE exchanger received %d, the plain one %d; want 2 and 0", n, m)
	}

	// Every session went into the day's TLS report file.
	files, _ := filepath.Glob(filepath.Join(d.Reports.Dir, "*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("report files %v", files)
	}
	raw, _ := os.ReadFile(files[0])
	for _, want := range []string{
		`{"domain":"secure.test","type":"tlsa","policy":["3 1 1 ` + spkiSHA256(cert) + `"],"mx":"mx.secure.test"}`,
		`"domain":"wrong.test","type":"tlsa"`, `"failure":"validation-failure"`,
		`"domain":"stripped.test","type":"tlsa"`, `"failure":"starttls-not-supported"`,
		`{"domain":"unsigned.test","type":"no-policy-found","mx":"mx.unsigned.test"}`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("report file lacks %s:\n%s", want, raw)
		}
	}

	// "TLS-Required: No" (RFC 8689 section 5): the sender waives the
	// policies, and the exchangers DANE refused take the message with
	// opportunistic TLS, or none.
	relaxed := []byte("TLS-Required: no \r\n" + testMsg)
	for _, to := range []string{"b@wrong.test", "b@stripped.test"} {
		if _, err := d.Deliver(ctx, "a@example.test", to, relaxed); err != nil {
			t.Errorf("TLS-Required: No to %s: %v", to, err)
		}
	}
	if n, m := len(good.received()), len(plain.received()); n != 3 || m != 1 {
		t.Fatalf("after TLS-Required: No, the DANE exchanger received %d, the plain one %d; want 3 and 1", n, m)
	}
}

// Under an MTA-STS policy in enforce mode (RFC 8461) only the MX hosts
// the policy names are used, over TLS with a certificate valid for their
// name.
func TestDirectMTASTS(t *testing.T) {
	ls, port := listenAll(t, "127.0.0.2", "127.0.0.3", "127.0.0.4")
	good, goodCert := certPeer(t, ls[0], "mx.sts.test")
	bad, _ := certPeer(t, ls[1], "mx.other.test")

	// The policy hosts, with one certificate for all their names.
	webCert, webKey := certFor(t, "mta-sts.sts.test", "mta-sts.sts2.test", "mta-sts.badmx.test", "mta-sts.testing.test")
	policies := map[string]string{
		"mta-sts.sts.test":     "version: STSv1\r\nmode: enforce\r\nmx: mx.sts.test\r\nmax_age: 86400\r\n",
		"mta-sts.sts2.test":    "version: STSv1\r\nmode: enforce\r\nmx: *.sts.test\r\nmax_age: 86400\r\n",
		"mta-sts.badmx.test":   "version: STSv1\r\nmode: enforce\r\nmx: mx.sts.test\r\nmax_age: 86400\r\n",
		"mta-sts.testing.test": "version: STSv1\r\nmode: testing\r\nmx: mx.sts.test\r\nmax_age: 86400\r\n",
	}
	l := tls.NewListener(ls[2], &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{webCert.Raw}, PrivateKey: webKey}}})
	web := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := policies[r.Host]
		if !ok || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, p)
	})}
	go web.Serve(l)
	t.Cleanup(func() { web.Close() })

	var records []string
	for _, domain := range []string{"sts.test", "sts2.test", "badmx.test", "testing.test"} {
		records = append(records,
			fmt.Sprintf(`_mta-sts.%s. 300 IN TXT "v=STSv1; id=1"`, domain),
			fmt.Sprintf("mta-sts.%s. 300 IN A 127.0.0.4", domain))
	}
	records = append(records,
		"sts.test. 300 IN MX 10 mx.sts.test.",
		"sts2.test. 300 IN MX 10 mx.sts.test.",
		"badmx.test. 300 IN MX 10 mx.other.test.",
		"testing.test. 300 IN MX 10 mx.other.test.",
		"mx.sts.test. 300 IN A 127.0.0.2",
		"mx.other.test. 300 IN A 127.0.0.3",
	)
	d, _ := testDirect(t, port, records...)
	roots := x509.NewCertPool()
	roots.AddCert(goodCert)
	d.RootCAs = roots
	stsRoots := x509.NewCertPool()
	stsRoots.AddCert(webCert)
	d.STS = &mtasts.Fetcher{Resolver: d.Resolver, Port: port, RootCAs: stsRoots}

	ctx := context.Background()
	if _, err := d.Deliver(ctx, "a@example.test", "b@sts.test", []byte(testMsg)); err != nil {
		t.Fatalf("policy naming the MX: %v", err)
	}
	if _, err := d.Deliver(ctx, "a@example.test", "b@sts2.test", []byte(testMsg)); err != nil {
		t.Fatalf("policy naming the MX by a wildcard: %v", err)
	}
	if _, err := d.Deliver(ctx, "a@example.test", "b@badmx.test", []byte(testMsg)); err == nil || isPermanent(err) {
		t.Fatalf("MX not in the policy: %v, want a temporary failure", err)
	}
	if _, err := d.Deliver(ctx, "a@example.test", "b@testing.test", []byte(testMsg)); err != nil {
		t.Fatalf("policy in testing mode: %v, want delivery", err)
	}
	if n, m := len(good.received()), len(bad.received()); n != 2 || m != 1 {
		t.Fatalf("mx.sts.test received %d, mx.other.test %d; want 2 and 1", n, m)
	}
	// "TLS-Required: No" (RFC 8689 section 5) waives the policy: the MX
	// it does not name takes the message.
	if _, err := d.Deliver(ctx, "a@example.test", "b@badmx.test", []byte("TLS-Required: No\r\n"+testMsg)); err != nil {
		t.Fatalf("TLS-Required: No, MX not in the policy: %v", err)
	}
	if m := len(bad.received()); m != 2 {
		t.Fatalf("mx.other.test received %d, want 2", m)
	}

	// A policy whose exchanger's certificate does not verify gets nothing
	// (once the connections verified before are gone).
	d.Close()
	d.RootCAs = x509.NewCertPool()
	if _, err := d.Deliver(ctx, "a@example.test", "c@sts.test", []byte(testMsg)); err == nil || isPermanent(err) {
		t.Fatalf("exchanger with an untrusted certificate: %v, want a temporary failure", err)
	}
}

// certFor makes a self-signed certificate for names.
func certFor(t *testing.T, names ...string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}
