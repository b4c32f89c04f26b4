package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"casella/internal/resolver/dnstest"
)

// freePorts returns n loopback ports that were free a moment ago. The
// client setup documents name the configured ports, so port 0 will not do.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var ports []string
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		_, p, _ := net.SplitHostPort(l.Addr().String())
		ports = append(ports, p)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// TestClientSetup starts the binary, fetches each client setup document
// over HTTPS as the client would, and talks to every server it names: the
// host is the configured hostname, and each port answers its protocol.
// Then "casella dns" prints the records, a DNS server serves them, and
// "casella dns check" finds them right, and a missing one wrong.
func TestClientSetup(t *testing.T) {
	p := freePorts(t, 6)
	conf := strings.NewReplacer(
		"[smtp]\nlisten = \"127.0.0.1:0\"\nsubmission = \"127.0.0.1:0\"\nsubmissions = \"127.0.0.1:0\"",
		"[smtp]\nlisten = \"127.0.0.1:0\"\nsubmission = \"127.0.0.1:"+p[0]+"\"\nsubmissions = \"127.0.0.1:"+p[1]+"\"",
		"[imap]\nlisten = \"127.0.0.1:0\"\ntls_listen = \"127.0.0.1:0\"",
		"[imap]\nlisten = \"127.0.0.1:"+p[2]+"\"\ntls_listen = \"127.0.0.1:"+p[3]+"\"",
		"[pop3]\nlisten = \"127.0.0.1:0\"\ntls_listen = \"127.0.0.1:0\"",
		"[pop3]\nlisten = \"\"\ntls_listen = \"127.0.0.1:"+p[4]+"\"",
		"[http]\n", "[http]\ntls_listen = \"127.0.0.1:"+p[5]+"\"\n",
	).Replace(serverConfig)
	data := filepath.Join(t.TempDir(), "data")
	config := filepath.Join(t.TempDir(), "casella.toml")
	if err := os.WriteFile(config, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, data, config)
	s.casella("domain", "add", "example.test")

	// The self-signed certificate is for the hostname; every client
	// reaches the server under that name (the CNAMEs lead there).
	pem, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	tlsConf := &tls.Config{RootCAs: roots, ServerName: "mx.example.test"}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}}
	base := "https://" + s.addr("https")
	fetch := func(method, host, path, body string) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s%s: %s %s", method, host, path, resp.Status, b)
		}
		return b
	}

	// Thunderbird, from the autoconfig host.
	var tb struct {
		Servers []struct {
			Type       string `xml:"type,attr"`
			Hostname   string `xml:"hostname"`
			Port       string `xml:"port"`
			SocketType string `xml:"socketType"`
		} `xml:"emailProvider>incomingServer"`
		Outgoing []struct {
			Type       string `xml:"type,attr"`
			Hostname   string `xml:"hostname"`
			Port       string `xml:"port"`
			SocketType string `xml:"socketType"`
		} `xml:"emailProvider>outgoingServer"`
	}
	if err := xml.Unmarshal(fetch("GET", "autoconfig.example.test", "/mail/config-v1.1.xml?emailaddress=user%40example.test", ""), &tb); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // "type port socket" -> greeting
		"imap " + p[3] + " SSL": "* OK", "imap " + p[2] + " STARTTLS": "* OK", "pop3 " + p[4] + " SSL": "+OK",
		"smtp " + p[1] + " SSL": "220", "smtp " + p[0] + " STARTTLS": "220",
	}
	got := 0
	for _, srv := range append(tb.Servers, tb.Outgoing...) {
		if srv.Hostname != "mx.example.test" {
			t.Errorf("autoconfig names host %q", srv.Hostname)
		}
		key := srv.Type + " " + srv.Port + " " + srv.SocketType
		greeting, ok := want[key]
		if !ok {
			t.Errorf("autoconfig names %s, no configured listener", key)
			continue
		}
		got++
		if line := greet(t, srv.Port, srv.SocketType == "SSL", tlsConf); !strings.HasPrefix(line, greeting) {
			t.Errorf("%s greets %q, want %q", key, line, greeting)
		}
	}
	if got != len(want) {
		t.Errorf("autoconfig names %d of the %d listeners", got, len(want))
	}

	// Outlook, on the autodiscover host.
	var ol struct {
		Protocols []struct {
			Type, Server, Port, Encryption string
		} `xml:"Response>Account>Protocol"`
	}
	req := `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request>` +
		`<EMailAddress>user@example.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
	if err := xml.Unmarshal(fetch("POST", "autodiscover.example.test", "/autodiscover/autodiscover.xml", req), &ol); err != nil {
		t.Fatal(err)
	}
	if len(ol.Protocols) != len(want) {
		t.Errorf("autodiscover names %d servers, want %d", len(ol.Protocols), len(want))
	}
	for _, pr := range ol.Protocols {
		if pr.Server != "mx.example.test" || greet(t, pr.Port, pr.Encryption == "SSL", tlsConf) == "" {
			t.Errorf("autodiscover names %+v", pr)
		}
	}

	// Apple: the profile names the implicit TLS listeners.
	profile := string(fetch("GET", "mx.example.test", "/.well-known/apple-mail.mobileconfig?email=user%40example.test", ""))
	for _, w := range []string{"<integer>" + p[3] + "</integer>", "<integer>" + p[1] + "</integer>", "<string>mx.example.test</string>"} {
		if !strings.Contains(profile, w) {
			t.Errorf("profile lacks %s:\n%s", w, profile)
		}
	}

	// MTA-STS, on its host.
	if pol := string(fetch("GET", "mta-sts.example.test", "/.well-known/mta-sts.txt", "")); !strings.Contains(pol, "mx: mx.example.test\r\n") {
		t.Errorf("policy %q", pol)
	}

	// A sender's TLS report with failures, posted to the policy host,
	// shows in /api/status as a warning, the server not degraded.
	rep := `{"organization-name":"Sender Inc.","date-range":{"start-datetime":"2026-12-01T00:00:00Z","end-datetime":"2026-12-02T00:00:00Z"},"report-id":"e2e",` +
		`"policies":[{"policy":{"policy-type":"sts","policy-domain":"example.test"},"summary":{"total-successful-session-count":5,"total-failure-session-count":1},` +
		`"failure-details":[{"result-type":"certificate-not-trusted","receiving-mx-hostname":"mx.example.test","failed-session-count":1}]}]}`
	post, _ := http.NewRequest("POST", base+"/tlsrpt", strings.NewReader(rep))
	post.Host = "mta-sts.example.test"
	post.Header.Set("Content-Type", "application/tlsrpt+json")
	if resp, err := client.Do(post); err != nil || resp.StatusCode != 200 {
		t.Fatalf("posting a TLS report: %v %v", resp, err)
	}
	var status struct {
		Degraded   bool
		TLSReports []struct{ Organization string }
		Warnings   []string
	}
	if err := json.Unmarshal(fetch("GET", "mx.example.test", "/api/status", ""), &status); err != nil {
		t.Fatal(err)
	}
	if status.Degraded || len(status.TLSReports) != 1 || status.TLSReports[0].Organization != "Sender Inc." ||
		len(status.Warnings) != 1 || !strings.Contains(status.Warnings[0], "certificate-not-trusted 1") {
		t.Errorf("status after a TLS report with a failure: %+v", status)
	}

	// casella dns prints the records, DKIM keys included; published,
	// they check ok.
	s.casella("dkim", "generate", "example.test")
	zone := s.casella("dns", "example.test")
	if !strings.Contains(zone, "._domainkey.example.test.") {
		t.Fatalf("casella dns prints no DKIM record:\n%s", zone)
	}
	var records []string
	for _, l := range strings.Split(zone, "\n") {
		if strings.HasPrefix(l, "casella:") || strings.HasPrefix(l, ";") || strings.TrimSpace(l) == "" {
			continue
		}
		records = append(records, l)
	}
	dns := dnstest.Start(t, append(records, "mx.example.test. 300 IN A 127.0.0.1")...)
	// Every record is right; the policy, fetched as a sender would, is
	// not: the self-signed certificate is for mx.example.test only.
	out, err := runCasella(data, config, "dns", "check", "--resolver", dns.Addr, "example.test")
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] != "STATUS" && f[0] != "casella:" {
			wantStatus := "ok"
			if f[1] == "HTTPS" {
				wantStatus = "wrong"
			}
			if f[0] != wantStatus {
				t.Errorf("dns check: %s, want %s", line, wantStatus)
			}
		}
	}
	if err == nil || !strings.Contains(out, "certificate is valid for mx.example.test") {
		t.Fatalf("dns check did not fault the policy host's certificate: %v\n%s", err, out)
	}
	var partial []string
	for _, r := range records {
		if !strings.HasPrefix(r, "_dmarc.") {
			partial = append(partial, r)
		}
	}
	dns = dnstest.Start(t, append(partial, "mx.example.test. 300 IN A 127.0.0.1")...)
	out, err = runCasella(data, config, "dns", "check", "--resolver", dns.Addr, "example.test")
	if err == nil || !strings.Contains(out, "missing") || !strings.Contains(out, "_dmarc.example.test") {
		t.Fatalf("dns check without DMARC: %v\n%s", err, out)
	}
}

// greet connects to a loopback port, over TLS when implicit, and returns
// the server's first line.
func greet(t *testing.T, port string, implicitTLS bool, conf *tls.Config) string {
	t.Helper()
	if _, err := strconv.Atoi(port); err != nil {
		t.Errorf("port %q", port)
		return ""
	}
	addr := "127.0.0.1:" + port
	var c net.Conn
	var err error
	if implicitTLS {
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
	} else {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
	}
	if err != nil {
		t.Errorf("connecting to %s: %v", addr, err)
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return line
}
