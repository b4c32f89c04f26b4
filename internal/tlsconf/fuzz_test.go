package tlsconf

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/acme"
)

// FuzzChallengeLookup feeds the names and tokens that validations bring
// from the network (the SNI of an acme-tls/1 handshake, the path of an
// http-01 request) to a manager with no challenge pending: each is
// refused, and none reaches a file outside the cache's directory, where a
// planted answer waits for a key that would escape it.
func FuzzChallengeLookup(f *testing.F) {
	for _, s := range []string{"mx.example.test", "../outside", "..", ".", "a/b", `a\b`, "", "outside", "x/../../outside"} {
		f.Add(s)
	}
	root := f.TempDir()
	dir := filepath.Join(root, "acme")
	cache, err := NewFileCache(dir)
	if err != nil {
		f.Fatal(err)
	}
	// Answers a key escaping the directory would find.
	for _, name := range []string{"outside." + HTTP01, "outside." + TLSALPN01, "." + HTTP01, ".." + HTTP01} {
		if err := os.WriteFile(filepath.Join(root, name), []byte("planted"), 0o600); err != nil {
			f.Fatal(err)
		}
	}
	a, err := NewACME(ACMEOptions{Challenge: HTTP01, Cache: cache, Names: func(context.Context) ([]string, error) { return nil, nil }})
	if err != nil {
		f.Fatal(err)
	}
	h := a.HTTPHandler(http.NotFoundHandler())
	f.Fuzz(func(t *testing.T, s string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.Path = "/.well-known/acme-challenge/" + s
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound {
			t.Fatalf("token %q answered %d %q", s, rec.Code, rec.Body.String())
		}
		conf, err := a.GetConfigForClient(&tls.ClientHelloInfo{ServerName: s, SupportedProtos: []string{acme.ALPNProto}, Conn: &net.TCPConn{}})
		if err == nil || conf != nil {
			t.Fatalf("SNI %q got a tls-alpn-01 answer", s)
		}
	})
}
