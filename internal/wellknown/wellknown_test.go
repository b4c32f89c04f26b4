package wellknown_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/xml"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"casella/internal/config"
	"casella/internal/directory/sqlitedir"
	"casella/internal/mtasts"
	"casella/internal/publish"
	"casella/internal/resolver"
	"casella/internal/resolver/dnstest"
	"casella/internal/tlsconf"
	"casella/internal/tlsrpt"
	"casella/internal/wellknown"
)

const (
	domain = "example.test"
	host   = "mail.example.net"
)

type env struct {
	cfg     config.Config
	url     string // of a plain HTTP listener
	reports string
	refused *refusals
}

type refusals struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *refusals) add(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n[reason]++
}

func (r *refusals) get(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[reason]
}

func testConfig() config.Config {
	cfg := config.Default()
	cfg.Hostname = host
	cfg.IMAP.TLSListen = "0.0.0.0:993"
	cfg.IMAP.Listen = "0.0.0.0:143"
	cfg.POP3.Listen, cfg.POP3.TLSListen = "", "0.0.0.0:995"
	cfg.SMTP.Submissions = "0.0.0.0:465"
	cfg.SMTP.Submission = "0.0.0.0:587"
	return cfg
}

// handler returns the handler over a real directory with domain in it.
func handler(t testing.TB, cfg config.Config) (*wellknown.Handler, *refusals) {
	t.Helper()
	dir, err := sqlitedir.Open(filepath.Join(t.TempDir(), "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	if _, err := dir.AddDomain(context.Background(), domain); err != nil {
		t.Fatal(err)
	}
	ref := &refusals{n: map[string]int{}}
	return &wellknown.Handler{
		Config:    cfg,
		Directory: dir,
		Reports:   &tlsrpt.Inbox{Dir: t.TempDir()},
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Refused:   ref.add,
		Next:      http.NotFoundHandler(),
	}, ref
}

func start(t *testing.T) env {
	cfg := testConfig()
	h, ref := handler(t, cfg)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return env{cfg: cfg, url: srv.URL, reports: h.Reports.Dir, refused: ref}
}

// get fetches path from the server as host.
func (e env) do(t *testing.T, method, host, path, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestMTASTSFetchedByASender serves the policy over HTTPS and fetches it
// with Casella's own sender side: the _mta-sts record that "casella dns"
// prints announces it, and the policy names this server as MX.
func TestMTASTSFetchedByASender(t *testing.T) {
	cfg := testConfig()
	h, _ := handler(t, cfg)
	// The server's own self-signed certificate, made for the policy host.
	data := t.TempDir()
	conf, err := tlsconf.Load("", "", data, "mta-sts."+domain)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = conf
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	var records []string
	for _, r := range publish.Records(cfg, domain, nil) {
		if r.Kind == publish.KindMTASTS {
			records = append(records, r.RR.String())
		}
	}
	dns := dnstest.Start(t, append(records, "mta-sts."+domain+". 300 IN A 127.0.0.1")...)
	pem, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	f := &mtasts.Fetcher{Resolver: &resolver.Resolver{Servers: []string{dns.Addr}}, RootCAs: roots, Port: port}
	p, err := f.Policy(context.Background(), domain)
	if err != nil || p == nil {
		t.Fatalf("policy: %v, %v", p, err)
	}
	if p.Mode != mtasts.Testing || !p.Matches(host) || p.Matches("mx.elsewhere.test") {
		t.Errorf("policy %+v: want mode testing and MX %s only", p, host)
	}
	if p.ID != publish.STSPolicy(cfg).TextID() {
		t.Errorf("policy id %q, want the served policy's", p.ID)
	}
}

func TestMTASTSPolicy(t *testing.T) {
	e := start(t)
	resp, body := e.do(t, "GET", "mta-sts."+domain+":443", "/.well-known/mta-sts.txt", "", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("policy: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	if want := "version: STSv1\r\nmode: testing\r\nmx: " + host + "\r\nmax_age: 604800\r\n"; string(body) != want {
		t.Errorf("policy %q, want %q", body, want)
	}
	if resp, _ := e.do(t, "GET", "mta-sts.other.test", "/.well-known/mta-sts.txt", "", nil); resp.StatusCode != 404 {
		t.Errorf("policy of a domain not hosted here: %s, want 404", resp.Status)
	}
	if resp, _ := e.do(t, "GET", "mta-sts."+domain, "/", "", nil); resp.StatusCode != 404 {
		t.Errorf("other path on the policy host: %s, want 404", resp.Status)
	}
	if e.refused.get("unknown-domain") != 1 || e.refused.get("not-found") != 1 {
		t.Errorf("refusals %v", e.refused.n)
	}
}

func TestTLSReportReceived(t *testing.T) {
	e := start(t)
	rep := tlsrpt.Report{OrganizationName: "Sender Inc.", ReportID: "r1", ContactInfo: "tls@sender.test",
		DateRange: tlsrpt.DateRange{Start: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}}
	rep.Policies = make([]tlsrpt.PolicyResult, 1)
	rep.Policies[0].Policy.Type, rep.Policies[0].Policy.Domain = tlsrpt.PolicySTS, domain
	rep.Policies[0].Summary.Success, rep.Policies[0].Summary.Failure = 10, 2
	js, _ := json.Marshal(rep)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(js)
	zw.Close()

	host := "mta-sts." + domain
	if resp, body := e.do(t, "POST", host, publish.TLSRPTPath, "application/tlsrpt+gzip", gz.Bytes()); resp.StatusCode != 200 {
		t.Fatalf("report: %s %s", resp.Status, body)
	}
	files, _ := filepath.Glob(filepath.Join(e.reports, domain, "*.json"))
	if len(files) != 1 {
		t.Fatalf("%d report files, want 1", len(files))
	}
	if kept, _ := os.ReadFile(files[0]); !bytes.Equal(kept, js) {
		t.Errorf("kept %q, want the report %q", kept, js)
	}
	for _, c := range []struct {
		name, host, ct string
		body           []byte
		status         int
	}{
		{"json type", host, "application/tlsrpt+json", js, 200},
		{"other type", host, "application/json", js, 415},
		{"not gzip", host, "application/tlsrpt+gzip", js, 400},
		{"not a report", host, "application/tlsrpt+json", []byte(`{"report-id": 7}`), 400},
		{"empty report", host, "application/tlsrpt+json", []byte(`{}`), 400},
		{"too large", host, "application/tlsrpt+json", bytes.Repeat([]byte(" "), 2<<20), 413},
		{"other domain", "mta-sts.other.test", "application/tlsrpt+json", js, 404},
	} {
		if resp, body := e.do(t, "POST", c.host, publish.TLSRPTPath, c.ct, c.body); resp.StatusCode != c.status {
			t.Errorf("%s: %s %s, want %d", c.name, resp.Status, body, c.status)
		}
	}
	if n := e.refused.get("bad-report"); n != 5 {
		t.Errorf("%d bad reports counted, want 5", n)
	}
}

// thunderbird is what Thunderbird reads of an autoconfig file.
type thunderbird struct {
	Provider struct {
		ID       string     `xml:"id,attr"`
		Domain   string     `xml:"domain"`
		Incoming []tbServer `xml:"incomingServer"`
		Outgoing []tbServer `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

type tbServer struct {
	Type       string `xml:"type,attr"`
	Hostname   string `xml:"hostname"`
	Port       int    `xml:"port"`
	SocketType string `xml:"socketType"`
	Username   string `xml:"username"`
}

func TestAutoconfig(t *testing.T) {
	e := start(t)
	for _, c := range []struct{ host, path string }{
		{"autoconfig." + domain, "/mail/config-v1.1.xml?emailaddress=someone%40" + domain},
		{"autoconfig." + domain, "/mail/config-v1.1.xml"},
		{domain, "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=someone%40EXAMPLE.test"},
	} {
		resp, body := e.do(t, "GET", c.host, c.path, "", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s%s: %s %s", c.host, c.path, resp.Status, body)
		}
		var doc thunderbird
		if err := xml.Unmarshal(body, &doc); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		got := ""
		for _, s := range append(doc.Provider.Incoming, doc.Provider.Outgoing...) {
			got += s.Type + " " + s.Hostname + " " + strconv.Itoa(s.Port) + " " + s.SocketType + " " + s.Username + "\n"
		}
		want := "imap " + host + " 993 SSL %EMAILADDRESS%\n" +
			"imap " + host + " 143 STARTTLS %EMAILADDRESS%\n" +
			"pop3 " + host + " 995 SSL %EMAILADDRESS%\n" +
			"smtp " + host + " 465 SSL %EMAILADDRESS%\n" +
			"smtp " + host + " 587 STARTTLS %EMAILADDRESS%\n"
		if got != want || doc.Provider.Domain != domain {
			t.Errorf("%s%s: domain %q, servers\n%swant\n%s", c.host, c.path, doc.Provider.Domain, got, want)
		}
	}
	for _, c := range []struct {
		host, path string
		status     int
	}{
		{domain, "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=x%40other.test", 404},
		{domain, "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=%3Cscript%3E%40" + domain, 400},
		{domain, "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=" + strings.Repeat("a", 300) + "%40" + domain, 400},
		{"autoconfig.other.test", "/mail/config-v1.1.xml", 404},
		{"localhost", "/.well-known/autoconfig/mail/config-v1.1.xml", 404},
	} {
		if resp, body := e.do(t, "GET", c.host, c.path, "", nil); resp.StatusCode != c.status {
			t.Errorf("%s%s: %s %s, want %d", c.host, c.path, resp.Status, body, c.status)
		}
	}
}

const autodiscoverRequest = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>%s</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`

// outlook is what Outlook reads of an autodiscover response.
type outlook struct {
	XMLName  xml.Name
	Response struct {
		XMLName xml.Name
		Account struct {
			AccountType string
			Action      string
			Protocol    []struct {
				Type, Server, LoginName, SSL, Encryption string
				Port                                     int
			}
		}
	}
}

func TestAutodiscover(t *testing.T) {
	e := start(t)
	body := strings.Replace(autodiscoverRequest, "%s", "someone@"+domain, 1)
	resp, out := e.do(t, "POST", "autodiscover."+domain, "/Autodiscover/Autodiscover.xml", "text/xml", []byte(body))
	if resp.StatusCode != 200 {
		t.Fatalf("autodiscover: %s %s", resp.Status, out)
	}
	var doc outlook
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.XMLName.Space != "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006" ||
		doc.Response.XMLName.Space != "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a" {
		t.Errorf("namespaces %q, %q", doc.XMLName.Space, doc.Response.XMLName.Space)
	}
	got := ""
	for _, p := range doc.Response.Account.Protocol {
		got += p.Type + " " + p.Server + " " + strconv.Itoa(p.Port) + " " + p.Encryption + " " + p.LoginName + "\n"
	}
	want := "IMAP " + host + " 993 SSL someone@" + domain + "\n" +
		"IMAP " + host + " 143 TLS someone@" + domain + "\n" +
		"POP3 " + host + " 995 SSL someone@" + domain + "\n" +
		"SMTP " + host + " 465 SSL someone@" + domain + "\n" +
		"SMTP " + host + " 587 TLS someone@" + domain + "\n"
	if got != want || doc.Response.Account.Action != "settings" {
		t.Errorf("protocols\n%swant\n%s", got, want)
	}

	for _, c := range []struct {
		name, method, body string
		status             int
	}{
		{"get", "GET", "", 405},
		{"other domain", "POST", strings.Replace(autodiscoverRequest, "%s", "someone@other.test", 1), 404},
		{"escaped markup", "POST", strings.Replace(autodiscoverRequest, "%s", "a&lt;b&gt;@"+domain, 1), 400},
		{"entity", "POST", `<!DOCTYPE a [<!ENTITY x "y">]>` + strings.Replace(autodiscoverRequest, "%s", "&x;@"+domain, 1), 400},
		{"other schema", "POST", strings.Replace(autodiscoverRequest, "outlook/requestschema", "mobilesync/requestschema", 1), 400},
		{"not xml", "POST", "hello", 400},
		{"too large", "POST", strings.Replace(autodiscoverRequest, "%s", strings.Repeat("a", 10000)+"@"+domain, 1), 413},
	} {
		if resp, out := e.do(t, c.method, domain, "/autodiscover/autodiscover.xml", "text/xml", []byte(c.body)); resp.StatusCode != c.status {
			t.Errorf("%s: %s %s, want %d", c.name, resp.Status, out, c.status)
		}
	}

	resp, out = e.do(t, "GET", "autodiscover."+domain, "/autodiscover/autodiscover.json/v1.0/someone@"+domain+"?Protocol=AutodiscoverV1", "", nil)
	var js map[string]string
	if err := json.Unmarshal(out, &js); resp.StatusCode != 200 || err != nil {
		t.Fatalf("autodiscover.json: %s %s", resp.Status, out)
	}
	if want := "https://" + host + "/autodiscover/autodiscover.xml"; js["Url"] != want {
		t.Errorf("autodiscover.json Url %q, want %q", js["Url"], want)
	}
	if resp, out := e.do(t, "GET", domain, "/autodiscover/autodiscover.json?Email=someone%40"+domain+"&Protocol=ActiveSync", "", nil); resp.StatusCode != 400 {
		t.Errorf("ActiveSync: %s %s, want 400", resp.Status, out)
	}
}

// plist decodes a property list into Go values: map[string]any, []any,
// string, int (as string) and bool.
func plist(t *testing.T, data []byte) map[string]any {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(data))
	var value func(start xml.StartElement) any
	value = func(start xml.StartElement) any {
		switch start.Name.Local {
		case "dict":
			m := map[string]any{}
			key := ""
			for {
				tok, err := d.Token()
				if err != nil {
					t.Fatal(err)
				}
				switch tok := tok.(type) {
				case xml.StartElement:
					if tok.Name.Local == "key" {
						var k string
						d.DecodeElement(&k, &tok)
						key = k
						continue
					}
					m[key] = value(tok)
				case xml.EndElement:
					return m
				}
			}
		case "array":
			var a []any
			for {
				tok, err := d.Token()
				if err != nil {
					t.Fatal(err)
				}
				switch tok := tok.(type) {
				case xml.StartElement:
					a = append(a, value(tok))
				case xml.EndElement:
					return a
				}
			}
		case "true", "false":
			d.Skip()
			return start.Name.Local == "true"
		default:
			var s string
			d.DecodeElement(&s, &start)
			return s
		}
	}
	for {
		tok, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "dict" {
			return value(se).(map[string]any)
		}
	}
}

func TestMobileconfig(t *testing.T) {
	e := start(t)
	resp, out := e.do(t, "GET", host, "/.well-known/apple-mail.mobileconfig?email=some.one%2Btag%40"+domain, "", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-apple-aspen-config" {
		t.Fatalf("profile: %s %q %s", resp.Status, resp.Header.Get("Content-Type"), out)
	}
	p := plist(t, out)
	if p["PayloadType"] != "Configuration" {
		t.Errorf("PayloadType %v", p["PayloadType"])
	}
	content, _ := p["PayloadContent"].([]any)
	if len(content) != 1 {
		t.Fatalf("PayloadContent %v", p["PayloadContent"])
	}
	mail := content[0].(map[string]any)
	addr := "some.one+tag@" + domain
	for k, want := range map[string]any{
		"PayloadType":                  "com.apple.mail.managed",
		"EmailAccountType":             "EmailTypeIMAP",
		"EmailAddress":                 addr,
		"IncomingMailServerHostName":   host,
		"IncomingMailServerPortNumber": "993",
		"IncomingMailServerUseSSL":     true,
		"IncomingMailServerUsername":   addr,
		"OutgoingMailServerHostName":   host,
		"OutgoingMailServerPortNumber": "465",
		"OutgoingMailServerUseSSL":     true,
		"OutgoingMailServerUsername":   addr,
	} {
		if mail[k] != want {
			t.Errorf("%s = %v, want %v", k, mail[k], want)
		}
	}
	// The same address gets the same profile, which replaces itself.
	if _, again := e.do(t, "GET", host, "/.well-known/apple-mail.mobileconfig?email=some.one%2Btag%40"+domain, "", nil); !bytes.Equal(out, again) {
		t.Error("two downloads of one address's profile differ")
	}
	for _, q := range []string{"", "?email=x%40other.test", "?email=%3C%2Fstring%3E%40" + domain, "?email=a%20b%40" + domain, "?email=a%40b%40" + domain} {
		if resp, out := e.do(t, "GET", host, "/.well-known/apple-mail.mobileconfig"+q, "", nil); resp.StatusCode/100 != 4 {
			t.Errorf("%s: %s %s, want a 4xx", q, resp.Status, out)
		}
	}
}

// TestPassesTheRest checks what is not this package's reaches Next.
func TestPassesTheRest(t *testing.T) {
	e := start(t)
	if resp, _ := e.do(t, "GET", host, "/status", "", nil); resp.StatusCode != 404 || e.refused.get("not-found") != 0 {
		t.Errorf("/status: %s, refusals %v", resp.Status, e.refused.n)
	}
}
