package delivery

import (
	"context"
	"path/filepath"
	"testing"

	"casella/internal/dkim"
	"casella/internal/resolver"
	"casella/internal/resolver/dnstest"
	"casella/internal/srs"
)

// BenchmarkForward measures what forwarding adds to a message (SRS, DKIM
// signature, ARC seal) beside DKIM signing alone, the cost of any mail
// sent from a local domain.
func BenchmarkForward(b *testing.B) {
	keys := dkim.Open(filepath.Join(b.TempDir(), "dkim"))
	if _, err := keys.Generate("example.com", "s1"); err != nil {
		b.Fatal(err)
	}
	dns := dnstest.Start(b)
	f := &Forwarder{SRS: &srs.Rewriter{Secrets: [][]byte{[]byte("secret")}}, Keys: keys,
		Resolver: &resolver.Resolver{Servers: []string{dns.Addr}}, Hostname: "mx.example.com", Logger: quiet()}
	msg := []byte(arrived)
	b.Run("sign", func(b *testing.B) {
		for b.Loop() {
			if _, err := keys.Sign("example.com", msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := f.Forward(context.Background(), "alice@example.org", "example.com", msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
