package tlsconf

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSelfSignedMadeOnceAndReused(t *testing.T) {
	dir := t.TempDir()
	cfg, err := Load("", "", dir, "mail.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x, want TLS 1.2", cfg.MinVersion)
	}
	leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("key type %T, want ECDSA", leaf.PublicKey)
	}
	for _, name := range []string{"mail.example.test", "localhost", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(name); err != nil {
			t.Errorf("certificate does not cover %s: %v", name, err)
		}
	}

	keyFile := filepath.Join(dir, "tls", "key.pem")
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "tls"))
	if len(entries) != 2 {
		t.Errorf("tls directory holds %d files, want cert.pem and key.pem only", len(entries))
	}

	again, err := Load("", "", dir, "mail.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Certificates[0].Certificate[0], cfg.Certificates[0].Certificate[0]) {
		t.Error("second start made a new certificate instead of reusing the first")
	}
}

func TestSelfSignedServesTLS(t *testing.T) {
	cfg, err := Load("", "", t.TempDir(), "mail.example.test")
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("ok"))
	}()
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	pool.AddCert(leaf)
	c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "mail.example.test"})
	if err != nil {
		t.Fatalf("handshake with the self-signed certificate: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2)
	if _, err := c.Read(buf); err != nil || string(buf) != "ok" {
		t.Fatalf("read %q, %v", buf, err)
	}
}

func TestLoadFiles(t *testing.T) {
	certPEM, keyPEM, err := generate("files.example.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(certFile, certPEM, 0o644)
	os.WriteFile(keyFile, keyPEM, 0o600)

	cfg, err := Load(certFile, keyFile, "", "ignored")
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if leaf.Subject.CommonName != "files.example.test" {
		t.Errorf("loaded certificate for %q", leaf.Subject.CommonName)
	}

	missing := filepath.Join(dir, "missing.pem")
	if _, err := Load(missing, keyFile, "", ""); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing certificate: error %v does not name the file", err)
	}
	if _, err := Load(certFile, missing, "", ""); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing key: error %v does not name the file", err)
	}
	os.WriteFile(keyFile, []byte("not a key"), 0o600)
	if _, err := Load(certFile, keyFile, "", ""); err == nil || !strings.Contains(err.Error(), keyFile) {
		t.Errorf("bad key: error %v does not name the file", err)
	}
	if _, err := Load(certFile, "", "", ""); err == nil {
		t.Error("certificate without key accepted")
	}
}

func TestCertificateWithoutKeyKept(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tls"), 0o700)
	certFile := filepath.Join(dir, "tls", "cert.pem")
	os.WriteFile(certFile, []byte("operator's file"), 0o644)
	if _, err := Load("", "", dir, "h"); err == nil {
		t.Fatal("a certificate without its key was overwritten")
	}
	if b, _ := os.ReadFile(certFile); string(b) != "operator's file" {
		t.Fatalf("certificate changed to %q", b)
	}
}

func TestKeyWithoutCertificateReplaced(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tls"), 0o700)
	os.WriteFile(filepath.Join(dir, "tls", "key.pem"), []byte("left by a crash"), 0o600)
	cfg, err := Load("", "", dir, "h.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Certificates) != 1 {
		t.Fatal("no certificate")
	}
}
