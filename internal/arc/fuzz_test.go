package arc_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"casella/internal/arc"
)

// FuzzVerify feeds hostile headers to the chain parser and verifier, with
// the test suite's key answering every lookup so that signatures are
// checked, not just parsed.
func FuzzVerify(f *testing.F) {
	files, _ := filepath.Glob("testdata/arc_test_suite/*.eml")
	for _, file := range files {
		msg, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msg)
	}
	f.Add([]byte("ARC-Seal: i=1; cv=none; b=;;\r\nARC-Authentication-Results: i=1\r\n\r\n"))
	f.Add([]byte("ARC-Message-Signature: i=1; h=from; bh=; l=99999999999999999999\r\n\r\n"))
	f.Add([]byte("ARC-Seal:\r\n \r\n\tx\n\n"))
	key := strings.Trim(strings.SplitN(suiteKey, "TXT ", 2)[1], `"`)
	lookup := func(name string) ([]string, error) {
		if name == "dummy._domainkey.example.org" {
			return []string{key}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		v := arc.Verify(msg, lookup)
		switch v.Result {
		case arc.None:
			if v.Instances != 0 {
				t.Fatalf("none with %d instances", v.Instances)
			}
		case arc.Pass:
			if v.Instances < 1 || v.Instances > arc.MaxInstances || v.Sealer == "" || v.Reason != "" {
				t.Fatalf("pass: %+v", v)
			}
		case arc.Fail:
			if v.Reason == "" {
				t.Fatal("fail without a reason")
			}
		default:
			t.Fatalf("result %q", v.Result)
		}
	})
}
