// Package dane checks an SMTP server's certificate against its TLSA
// records (RFC 7672, on RFC 6698). With DANE, a domain that signs its DNS
// says which certificates its mail exchangers use, and a sender that finds
// those records must use TLS and accept only those certificates, which
// defeats an attacker who strips STARTTLS or presents another certificate.
//
// Only DANE-TA(2) and DANE-EE(3) records are usable for SMTP (RFC 7672
// section 3.1.3); PKIX-TA(0) and PKIX-EE(1) are ignored.
package dane

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"casella/internal/resolver"
)

// Usages, selectors and matching types of RFC 6698 section 2.1.
const (
	usageDANETA = 2
	usageDANEEE = 3

	selectorCert = 0
	selectorSPKI = 1

	matchFull   = 0
	matchSHA256 = 1
	matchSHA512 = 2
)

// ErrNoUsable means none of the records can be used for SMTP: the
// exchanger is then treated as having none (RFC 7672 section 2.2).
var ErrNoUsable = errors.New("dane: no usable TLSA records")

// Usable returns the records that SMTP may use.
func Usable(recs []resolver.TLSA) []resolver.TLSA {
	var out []resolver.TLSA
	for _, r := range recs {
		if (r.Usage == usageDANETA || r.Usage == usageDANEEE) && r.Selector <= selectorSPKI && r.MatchingType <= matchSHA512 {
			out = append(out, r)
		}
	}
	return out
}

// Config returns a TLS configuration for connecting to the exchanger host
// that accepts only a chain matching recs. DANE-EE matches the server's
// own certificate whatever its names and dates say (RFC 7672 section
// 3.1.1); DANE-TA matches a certificate of the chain that must then sign
// the server's, whose name must be the exchanger's (section 3.1.2).
func Config(host string, recs []resolver.TLSA) (*tls.Config, error) {
	recs = Usable(recs)
	if len(recs) == 0 {
		return nil, ErrNoUsable
	}
	host = strings.TrimSuffix(host, ".")
	return &tls.Config{
		ServerName: host,
		MinVersion: tls.VersionTLS12,
		// The checks are DANE's, not the Web PKI's; VerifyConnection does
		// them on every handshake.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return Verify(host, cs.PeerCertificates, recs)
		},
	}, nil
}

// Verify checks a server's certificate chain, leaf first, against recs.
func Verify(host string, chain []*x509.Certificate, recs []resolver.TLSA) error {
	if len(chain) == 0 {
		return errors.New("dane: the server sent no certificate")
	}
	for _, r := range recs {
		switch r.Usage {
		case usageDANEEE:
			if matches(r, chain[0]) {
				return nil
			}
		case usageDANETA:
			for i, ta := range chain {
				if !matches(r, ta) {
					continue
				}
				if err := verifyIssued(host, chain[:i+1], ta); err == nil {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("dane: the certificate of %s matches none of its %d TLSA records", host, len(recs))
}

// verifyIssued checks that the leaf chains up to the trust anchor ta and
// names host.
func verifyIssued(host string, chain []*x509.Certificate, ta *x509.Certificate) error {
	roots := x509.NewCertPool()
	roots.AddCert(ta)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	leaf := chain[0]
	if leaf.Equal(ta) {
		return errors.New("dane: a trust anchor record matched the server's own certificate")
	}
	_, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err
}

// matches reports whether cert is the one r describes.
func matches(r resolver.TLSA, cert *x509.Certificate) bool {
	data := cert.Raw
	if r.Selector == selectorSPKI {
		data = cert.RawSubjectPublicKeyInfo
	}
	switch r.MatchingType {
	case matchSHA256:
		sum := sha256.Sum256(data)
		data = sum[:]
	case matchSHA512:
		sum := sha512.Sum512(data)
		data = sum[:]
	case matchFull:
	default:
		return false
	}
	return bytes.Equal(data, r.Data)
}
