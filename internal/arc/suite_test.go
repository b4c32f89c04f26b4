package arc_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"casella/internal/arc"
	"casella/internal/resolver"
	"casella/internal/resolver/dnstest"
)

// suiteKey is the key of the ARC test suite's messages, from its
// txt-records (see testdata/arc_test_suite/README.md), folded as there.
const suiteKey = `dummy._domainkey.example.org. 300 IN TXT "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3id Y6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lx j+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"`

// TestSuite verifies messages sealed by another implementation.
func TestSuite(t *testing.T) {
	srv := dnstest.Start(t, suiteKey)
	r := &resolver.Resolver{Servers: []string{srv.Addr}}
	lookup := func(name string) ([]string, error) {
		return resolver.Net{R: r}.LookupTXT(context.Background(), name)
	}
	files, err := filepath.Glob("testdata/arc_test_suite/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	for _, file := range files {
		msg, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(file), ".eml")
		want := arc.Fail
		if strings.HasPrefix(name, "pass_") {
			want = arc.Pass
		}
		t.Run(name, func(t *testing.T) {
			if v := arc.Verify(msg, lookup); v.Result != want {
				t.Fatalf("%+v, want %s", v, want)
			}
		})
		if want == arc.Pass {
			// The same message with its body changed.
			t.Run(name+"_body_changed", func(t *testing.T) {
				changed := bytes.Replace(msg, []byte("This is a test message."), []byte("This is a real message."), 1)
				if v := arc.Verify(changed, lookup); v.Result != arc.Fail || !strings.Contains(v.Reason, "body hash") {
					t.Fatalf("%+v, want a failed body hash", v)
				}
			})
		}
	}
	// The suite's i=2 message whose first AMS no longer verifies: the
	// chain passes, and oldest-pass says the change came before i=2.
	msg, err := os.ReadFile("testdata/arc_test_suite/pass_i2_1_ams1_invalid.eml")
	if err != nil {
		t.Fatal(err)
	}
	if v := arc.Verify(msg, lookup); v.OldestPass != 2 || v.Sealer != "example.org" {
		t.Errorf("%+v, want oldest-pass 2 sealed by example.org", v)
	}
}
