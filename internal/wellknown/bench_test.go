package wellknown_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The handler's documents beside a request it passes on (the peer: the
// cost of the routing alone), each served from a real directory.
func BenchmarkDocuments(b *testing.B) {
	h, _ := handler(b, testConfig())
	h.Next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	body := strings.Replace(autodiscoverRequest, "%s", "someone@"+domain, 1)
	for _, c := range []struct {
		name, method, host, path, body string
	}{
		{"passed-on", "GET", host, "/status", ""},
		{"mta-sts", "GET", "mta-sts." + domain, "/.well-known/mta-sts.txt", ""},
		{"autoconfig", "GET", "autoconfig." + domain, "/mail/config-v1.1.xml?emailaddress=a%40" + domain, ""},
		{"autodiscover", "POST", domain, "/autodiscover/autodiscover.xml", body},
		{"mobileconfig", "GET", host, "/.well-known/apple-mail.mobileconfig?email=a%40" + domain, ""},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(c.method, "http://"+c.host+c.path, strings.NewReader(c.body))
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code/100 != 2 {
					b.Fatalf("%s: %d %s", c.name, rec.Code, rec.Body)
				}
			}
		})
	}
}
