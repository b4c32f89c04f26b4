// Package tlsconf builds the TLS configuration that the SMTP, IMAP, POP3 and
// HTTP listeners share: either the certificate an operator provides, or a
// self-signed one made at first start so that a new server speaks TLS
// (RFC 8314 section 3) from its first minute. ACME (acme.go) puts
// certificates from a CA (RFC 8555) in front of that one, which stays the
// fallback for names without one yet.
//
// Implementation notes:
//   - The self-signed key and certificate live at <dataDir>/tls/key.pem and
//     <dataDir>/tls/cert.pem. They are written to a temporary file, synced
//     and renamed into place, key first, so a crash never leaves a
//     certificate without its key or a half-written file; the key is mode
//     0600 from its creation.
//   - A self-signed certificate made once is reused at every later start:
//     clients that pinned it keep working.
//   - Connections use TLS 1.2 at least (RFC 8996 deprecates 1.0 and 1.1).
package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// selfSignedValidity is how long a generated certificate is valid. Clients
// cannot verify a self-signed certificate anyway; a long life saves the
// operator from a surprise expiry on a test server.
const selfSignedValidity = 10 * 365 * 24 * time.Hour

// Load returns a server TLS configuration. With certFile and keyFile it
// loads that PEM pair; with both empty it uses the self-signed certificate
// for hostname kept under dataDir, making it on first use. Giving only one
// of the two files is an error.
func Load(certFile, keyFile, dataDir, hostname string) (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	switch {
	case certFile != "" && keyFile != "":
		cert, err = loadPair(certFile, keyFile)
	case certFile != "" || keyFile != "":
		return nil, errors.New("tls: give both a certificate file and a key file, or neither for a self-signed certificate")
	default:
		cert, err = selfSigned(dataDir, hostname)
	}
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}, nil
}

// loadPair reads a PEM certificate chain and its key, naming the file that
// is missing or unreadable in the error.
func loadPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: reading certificate %s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: reading key %s: %w", keyFile, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// selfSigned loads the generated certificate under dataDir, or makes it.
func selfSigned(dataDir, hostname string) (tls.Certificate, error) {
	if dataDir == "" {
		return tls.Certificate{}, errors.New("tls: no certificate files and no data directory to keep a self-signed certificate in")
	}
	dir := filepath.Join(dataDir, "tls")
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certExists, err := exists(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyExists, err := exists(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	switch {
	case certExists && keyExists:
		return loadPair(certFile, keyFile)
	case certExists:
		// The key is written first, so a certificate without its key
		// is not ours: overwriting it could destroy an operator's file.
		return tls.Certificate{}, fmt.Errorf("tls: %s exists but %s does not; remove the certificate to make a new one", certFile, keyFile)
	}
	// A key without a certificate is left by a crash between the two
	// writes; making both again replaces it.
	certPEM, keyPEM, err := generate(hostname, time.Now())
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: creating %s: %w", dir, err)
	}
	if err := writeAtomic(keyFile, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeAtomic(certFile, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return loadPair(certFile, keyFile)
}

// exists reports whether path exists.
func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("tls: %w", err)
	}
}

// generate makes an ECDSA P-256 key and a self-signed certificate for
// hostname, localhost and the loopback addresses.
func generate(hostname string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: generating key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("tls: generating serial number: %w", err)
	}
	names := []string{"localhost"}
	if hostname != "" && hostname != "localhost" {
		names = append([]string{hostname}, names...)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: names[0], Organization: []string{"Casella self-signed"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: creating certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: encoding key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// writeAtomic writes data to path through a synced temporary file renamed
// into place, then syncs the directory so the rename is durable.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("tls: writing %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("tls: writing %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; widen it only for the certificate.
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("tls: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("tls: writing %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("tls: syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("tls: syncing %s: %w", dir, err)
	}
	return nil
}
