package dane

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"casella/internal/resolver"
)

// issue makes a certificate for name signed by parent (itself when nil).
func issue(t *testing.T, name string, ca bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  ca,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if !ca {
		tmpl.DNSNames = []string{name}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func sum256(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
func sum512(b []byte) []byte { s := sha512.Sum512(b); return s[:] }

func TestVerify(t *testing.T) {
	ca, caKey := issue(t, "Test CA", true, nil, nil)
	leaf, _ := issue(t, "mx.example.test", false, ca, caKey)
	other, _ := issue(t, "mx.example.test", false, nil, nil)
	chain := []*x509.Certificate{leaf, ca}

	tests := []struct {
		name  string
		host  string
		chain []*x509.Certificate
		rec   resolver.TLSA
		ok    bool
	}{
		{"EE SPKI sha256", "mx.example.test", chain, resolver.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: sum256(leaf.RawSubjectPublicKeyInfo)}, true},
		{"EE full cert", "other.name", chain, resolver.TLSA{Usage: 3, Selector: 0, MatchingType: 0, Data: leaf.Raw}, true},
		{"EE cert sha512", "mx.example.test", chain, resolver.TLSA{Usage: 3, Selector: 0, MatchingType: 2, Data: sum512(leaf.Raw)}, true},
		{"EE of another key", "mx.example.test", []*x509.Certificate{other}, resolver.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: sum256(leaf.RawSubjectPublicKeyInfo)}, false},
		{"TA signs the leaf", "mx.example.test", chain, resolver.TLSA{Usage: 2, Selector: 0, MatchingType: 1, Data: sum256(ca.Raw)}, true},
		{"TA, wrong name", "mx.evil.test", chain, resolver.TLSA{Usage: 2, Selector: 0, MatchingType: 1, Data: sum256(ca.Raw)}, false},
		{"TA did not sign it", "mx.example.test", []*x509.Certificate{other, ca}, resolver.TLSA{Usage: 2, Selector: 0, MatchingType: 1, Data: sum256(ca.Raw)}, false},
		{"TA record naming the leaf", "mx.example.test", chain, resolver.TLSA{Usage: 2, Selector: 0, MatchingType: 1, Data: sum256(leaf.Raw)}, false},
	}
	for _, tt := range tests {
		err := Verify(tt.host, tt.chain, []resolver.TLSA{tt.rec})
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	if err := Verify("mx.example.test", nil, []resolver.TLSA{tests[0].rec}); err == nil {
		t.Error("an empty chain verified")
	}
}

// PKIX usages are not for SMTP (RFC 7672 section 3.1.3).
func TestUnusable(t *testing.T) {
	_, err := Config("mx.example.test", []resolver.TLSA{{Usage: 0, Selector: 0, MatchingType: 1}, {Usage: 1, Selector: 1, MatchingType: 1}, {Usage: 3, Selector: 7, MatchingType: 1}})
	if !errors.Is(err, ErrNoUsable) {
		t.Fatalf("Config with only unusable records: %v", err)
	}
}
