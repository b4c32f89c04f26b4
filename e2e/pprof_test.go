package e2e

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestPprof checks that Go's profiles are served only when [http] pprof
// asks for them, next to the status pages.
func TestPprof(t *testing.T) {
	for _, on := range []bool{false, true} {
		data, config := newData(t, "")
		if on {
			b, err := os.ReadFile(config)
			if err != nil {
				t.Fatal(err)
			}
			conf := strings.Replace(string(b), "[http]\n", "[http]\npprof = true\n", 1)
			if err := os.WriteFile(config, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s := startServer(t, data, config)
		base := "http://" + s.addrs["http"]
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		for path, code := range map[string]int{"/debug/pprof/": want, "/debug/pprof/heap": want, "/healthz": http.StatusOK} {
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != code {
				t.Errorf("pprof %v: GET %s: %s, want %d", on, path, resp.Status, code)
			}
		}
		s.kill()
	}
}
