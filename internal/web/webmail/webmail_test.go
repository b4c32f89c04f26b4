package webmail

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServesBundle(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, c := range []struct{ path, ctype, body string }{
		{"/", "text/html", `<script type="module" src="app.js">`},
		{"/app.js", "text/javascript", "Email/query"},
		{"/app.css", "text/css", ".login"},
	} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) || !strings.Contains(string(b), c.body) {
			t.Errorf("GET %s = %d %q, %d bytes", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), len(b))
		}
		if got := resp.Header.Get("Content-Security-Policy"); !strings.Contains(got, "default-src 'self'") {
			t.Errorf("GET %s: CSP %q", c.path, got)
		}
	}
	resp, err := http.Get(srv.URL + "/nothing-here")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("missing file = %d, want 404", resp.StatusCode)
	}
}
