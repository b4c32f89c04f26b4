package wellknown

import (
	"encoding/xml"
	"strings"
	"testing"
)

// FuzzAutodiscover feeds hostile request bodies to the autodiscover
// parser: it must not panic, and what it accepts must be an address
// without space or markup that comes back whole from the XML response.
func FuzzAutodiscover(f *testing.F) {
	f.Add([]byte(`<Autodiscover xmlns="` + requestSchema + `"><Request><EMailAddress>a@example.test</EMailAddress>` +
		`<AcceptableResponseSchema>` + outlookSchema + `</AcceptableResponseSchema></Request></Autodiscover>`))
	f.Add([]byte(`<Autodiscover xmlns="` + requestSchema + `"><Request><EMailAddress>a&lt;b@x.test</EMailAddress></Request></Autodiscover>`))
	f.Add([]byte(`<!DOCTYPE a [<!ENTITY x "y">]><Autodiscover xmlns="` + requestSchema + `"><Request><EMailAddress>&x;@x.test</EMailAddress></Request></Autodiscover>`))
	f.Add([]byte(`<Autodiscover><Request><EMailAddress><![CDATA[a"@x.test]]></EMailAddress></Request></Autodiscover>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		addr, domain, err := parseAutodiscover(body)
		if err != nil {
			return
		}
		if len(addr) > maxAddress || !strings.HasSuffix(addr, "@"+domain) || !validDomain(domain) {
			t.Fatalf("accepted %q (domain %q)", addr, domain)
		}
		if strings.ContainsAny(addr, "<>\" \t\r\n") {
			t.Fatalf("accepted %q", addr)
		}
		out, err := xml.Marshal(outlookUser{DisplayName: addr})
		var back outlookUser
		if err != nil || xml.Unmarshal(out, &back) != nil || back.DisplayName != addr {
			t.Fatalf("%q does not survive the response: %s", addr, out)
		}
	})
}

// FuzzAddress checks the address grammar on any input.
func FuzzAddress(f *testing.F) {
	for _, s := range []string{"a@example.test", "a@b@example.test", "@example.test", "a@", "a b@x.test", "é@x.test", "a@xn--e1afmkfd.test"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addr, domain, ok := parseAddress(s)
		if !ok {
			return
		}
		local, d, _ := strings.Cut(addr, "@")
		if d != domain || local == "" || strings.ContainsAny(local, "@<>\"\\ ") || strings.ToLower(d) != d {
			t.Fatalf("%q accepted as %q, %q", s, addr, domain)
		}
	})
}
