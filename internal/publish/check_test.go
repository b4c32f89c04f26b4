package publish_test

import (
	"context"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"casella/internal/config"
	"casella/internal/dkim"
	"casella/internal/mtasts"
	"casella/internal/publish"
	"casella/internal/resolver"
	"casella/internal/resolver/dnstest"
	"casella/internal/tlsconf"
)

const (
	domain = "example.test"
	host   = "mail.example.net"
)

func testConfig() config.Config {
	cfg := config.Default()
	cfg.Hostname = host
	cfg.POP3.Listen = "" // published as not offered
	cfg.HTTP.TLSListen = "127.0.0.1:8443"
	return cfg
}

func testKeys(t *testing.T) []dkim.Key {
	keys, err := dkim.Open(t.TempDir()).Generate(domain, "sel")
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// serverAddrs are the server's own records, which the operator writes.
var serverAddrs = []string{
	host + ". 300 IN A 192.0.2.10",
	host + ". 300 IN AAAA 2001:db8::10",
}

// zoneLines returns the records lines of a zone file text.
func zoneLines(zone string) []string {
	var lines []string
	for _, l := range strings.Split(zone, "\n") {
		if l != "" && !strings.HasPrefix(l, ";") {
			lines = append(lines, l)
		}
	}
	return lines
}

func check(t *testing.T, srv *dnstest.Server, recs []publish.Record) map[string]publish.Result {
	t.Helper()
	c := &publish.Checker{Resolver: &resolver.Resolver{Servers: []string{srv.Addr}}, Hostname: host}
	byName := map[string]publish.Result{}
	for _, r := range c.Check(context.Background(), recs) {
		byName[r.Record.Kind+" "+r.Record.Name] = r
	}
	return byName
}

// TestCheckPublished publishes exactly what Records prints, and every
// record checks ok.
func TestCheckPublished(t *testing.T) {
	recs := publish.Records(testConfig(), domain, testKeys(t))
	zone := publish.Zone(recs)
	for _, want := range []string{
		"example.test.\t3600\tIN\tMX\t10 mail.example.net.",
		"_imaps._tcp.example.test.\t3600\tIN\tSRV\t0 1 2993 mail.example.net.",
		"_imap._tcp.example.test.\t3600\tIN\tSRV\t10 1 2143 mail.example.net.",
		"_pop3._tcp.example.test.\t3600\tIN\tSRV\t0 0 0 .",
		"_jmap._tcp.example.test.\t3600\tIN\tSRV\t0 1 8443 mail.example.net.",
		"_dmarc.example.test.\t3600\tIN\tTXT\t\"v=DMARC1; p=reject\"",
		"rua=https://mta-sts.example.test:8443/tlsrpt",
		"sel-rsa._domainkey.example.test.\t3600\tIN\tTXT\t\"v=DKIM1; k=rsa; p=",
		"sel-ed25519._domainkey.example.test.\t3600\tIN\tTXT\t\"v=DKIM1; k=ed25519; p=",
		"autoconfig.example.test.\t3600\tIN\tCNAME\tmail.example.net.",
	} {
		if !strings.Contains(zone, want) {
			t.Errorf("zone lacks %q:\n%s", want, zone)
		}
	}
	srv := dnstest.Start(t, append(zoneLines(zone), serverAddrs...)...)
	res := check(t, srv, recs)
	if len(res) != len(recs) {
		t.Fatalf("%d results for %d records", len(res), len(recs))
	}
	for _, r := range res {
		if r.Status != publish.OK {
			t.Errorf("%s %s: %s (found %q, %s)", r.Record.Kind, r.Record.Name, r.Status, r.Found, r.Why)
		}
	}
}

// TestCheckMissing checks a domain that published nothing.
func TestCheckMissing(t *testing.T) {
	recs := publish.Records(testConfig(), domain, testKeys(t))
	srv := dnstest.Start(t, serverAddrs...)
	for _, r := range check(t, srv, recs) {
		want := publish.Missing
		if r.Record.Kind == publish.KindHost {
			want = publish.OK
		}
		if r.Status != want {
			t.Errorf("%s %s: %s (found %q, %s), want %s", r.Record.Kind, r.Record.Name, r.Status, r.Found, r.Why, want)
		}
	}
}

// TestCheckWrong publishes a mistake for each kind of record.
func TestCheckWrong(t *testing.T) {
	cfg := testConfig()
	keys := testKeys(t)
	other, err := dkim.Open(t.TempDir()).Generate(domain, "sel")
	if err != nil {
		t.Fatal(err)
	}
	// The policy of the enforce mode is another policy: its id differs.
	enforce := cfg
	enforce.SMTP.MTASTSMode = "enforce"
	oldID := publish.STSPolicy(enforce).TextID()
	srv := dnstest.Start(t, append(serverAddrs,
		domain+". 300 IN MX 10 mx.elsewhere.test.",
		domain+`. 300 IN TXT "v=spf1 ip4:198.51.100.0/24 -all"`,
		other[0].ZoneLine(),
		`_dmarc.`+domain+`. 300 IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.`+domain+`. 300 IN TXT "v=DMARC1; p=none"`,
		`_mta-sts.`+domain+`. 300 IN TXT "v=STSv1; id=`+oldID+`"`,
		`mta-sts.`+domain+`. 300 IN A 203.0.113.7`,
		`_smtp._tls.`+domain+`. 300 IN TXT "v=TLSRPTv1; rua=mailto:tls@`+domain+`"`,
		`_imaps._tcp.`+domain+`. 300 IN SRV 0 1 993 mail.example.net.`,
		`_pop3._tcp.`+domain+`. 300 IN SRV 10 1 110 mail.example.net.`,
		`autoconfig.`+domain+`. 300 IN CNAME www.example.net.`,
	)...)
	srv.Fail("_jmap._tcp."+domain, dns.RcodeServerFailure)
	res := check(t, srv, publish.Records(cfg, domain, keys))
	for name, want := range map[string]string{
		"host " + host:                     publish.OK,
		"mx " + domain:                     publish.Wrong,
		"spf " + domain:                    publish.Wrong,
		"dkim " + keys[0].RecordName():     publish.Wrong,
		"dkim " + keys[1].RecordName():     publish.Missing,
		"dmarc _dmarc." + domain:           publish.Wrong,
		"mta-sts _mta-sts." + domain:       publish.Wrong,
		"alias mta-sts." + domain:          publish.Wrong,
		"tls-rpt _smtp._tls." + domain:     publish.Wrong,
		"srv _imaps._tcp." + domain:        publish.Wrong,
		"srv _pop3._tcp." + domain:         publish.Wrong,
		"srv _jmap._tcp." + domain:         publish.Failed,
		"alias autoconfig." + domain:       publish.Wrong,
		"alias autodiscover." + domain:     publish.Missing,
		"srv _autodiscover._tcp." + domain: publish.Missing,
		"srv _submissions._tcp." + domain:  publish.Missing,
	} {
		r, ok := res[name]
		if !ok {
			t.Errorf("no result for %s", name)
			continue
		}
		if r.Status != want {
			t.Errorf("%s: %s (found %q, %s), want %s", name, r.Status, r.Found, r.Why, want)
		}
		if r.Status == publish.Wrong && (r.Found == "" || r.Why == "") {
			t.Errorf("%s: wrong without saying what was found (%q) and why (%q)", name, r.Found, r.Why)
		}
	}
	if r := res["spf "+domain]; !strings.Contains(r.Why, "fail") {
		t.Errorf("SPF: %q does not say the server's address fails", r.Why)
	}
}

// TestCheckSPFOtherTerms: an SPF record written differently from the
// printed one is right when the server's addresses pass it.
func TestCheckSPFOtherTerms(t *testing.T) {
	recs := publish.Records(testConfig(), domain, nil)
	srv := dnstest.Start(t, append(serverAddrs,
		domain+`. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/64 include:_spf.elsewhere.test -all"`,
		domain+`. 300 IN TXT "google-site-verification=abc"`,
	)...)
	if r := check(t, srv, recs)["spf "+domain]; r.Status != publish.OK {
		t.Errorf("SPF: %s (%s)", r.Status, r.Why)
	}
}

// TestCheckPolicy fetches the policy as a sender does: right, served
// with a certificate senders do not trust, and another policy.
func TestCheckPolicy(t *testing.T) {
	cfg := testConfig()
	served := publish.STSPolicy(cfg)
	data := t.TempDir()
	conf, err := tlsconf.Load("", "", data, "mta-sts."+domain)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, served.Text())
	}))
	srv.TLS = conf
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	pem, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)

	var txt []string
	for _, r := range publish.Records(cfg, domain, nil) {
		if r.Kind == publish.KindMTASTS {
			txt = append(txt, r.RR.String())
		}
	}
	dnsSrv := dnstest.Start(t, append(txt, "mta-sts."+domain+". 300 IN A 127.0.0.1")...)
	r := &resolver.Resolver{Servers: []string{dnsSrv.Addr}}
	c := &publish.Checker{Resolver: r, Hostname: host}
	ctx := context.Background()

	if res := c.CheckPolicy(ctx, &mtasts.Fetcher{Resolver: r, RootCAs: roots, Port: port}, domain, served); res.Status != publish.OK {
		t.Errorf("served policy: %s (%s, %s)", res.Status, res.Found, res.Why)
	}
	if res := c.CheckPolicy(ctx, &mtasts.Fetcher{Resolver: r, RootCAs: x509.NewCertPool(), Port: port}, domain, served); res.Status != publish.Wrong || !strings.Contains(res.Found, "certificate") {
		t.Errorf("untrusted certificate: %s (%s, %s), want wrong for the certificate", res.Status, res.Found, res.Why)
	}
	enforce := cfg
	enforce.SMTP.MTASTSMode = "enforce"
	if res := c.CheckPolicy(ctx, &mtasts.Fetcher{Resolver: r, RootCAs: roots, Port: port}, domain, publish.STSPolicy(enforce)); res.Status != publish.Wrong {
		t.Errorf("another policy: %s (%s, %s), want wrong", res.Status, res.Found, res.Why)
	}
	if res := c.CheckPolicy(ctx, &mtasts.Fetcher{Resolver: r, RootCAs: roots, Port: port}, "other.test", served); res.Status != publish.Missing {
		t.Errorf("no policy announced: %s (%s, %s), want missing", res.Status, res.Found, res.Why)
	}
}

// A cluster's MX hosts ([smtp] mx_hosts) each get an MX record and an mx
// line of the MTA-STS policy, patterns the line only; the check wants an
// MX per host, and no MX the policy does not name.
func TestCheckCluster(t *testing.T) {
	cfg := testConfig()
	cfg.SMTP.MXHosts = []string{"mx1.example.net", "MX2.example.net.", "*.pool.example.net"}
	policy := publish.STSPolicy(cfg)
	if want := "version: STSv1\r\nmode: testing\r\nmx: mx1.example.net\r\nmx: mx2.example.net\r\nmx: *.pool.example.net\r\nmax_age: 604800\r\n"; policy.Text() != want {
		t.Errorf("policy %q, want %q", policy.Text(), want)
	}
	recs := publish.Records(cfg, domain, nil)
	var mxs []string
	for _, r := range recs {
		if r.Kind == publish.KindMX {
			mxs = append(mxs, r.Value())
		}
	}
	if want := []string{"10 mx1.example.net.", "10 mx2.example.net."}; !slices.Equal(mxs, want) {
		t.Fatalf("MX records %q, want %q", mxs, want)
	}
	c := func(records ...string) []string {
		srv := dnstest.Start(t, append(records, serverAddrs...)...)
		checker := &publish.Checker{Resolver: &resolver.Resolver{Servers: []string{srv.Addr}}, Hostname: host, STS: policy}
		var got []string
		for _, r := range checker.Check(context.Background(), recs) {
			if r.Record.Kind == publish.KindMX {
				got = append(got, r.Status+" "+r.Why)
			}
		}
		return got
	}
	mx1, mx2 := domain+". 300 IN MX 10 mx1.example.net.", domain+". 300 IN MX 10 mx2.example.net."
	if got := c(mx1, mx2, domain+". 300 IN MX 20 a.pool.example.net."); got[0] != "ok " || got[1] != "ok " {
		t.Errorf("every host published, a pattern's too: %q", got)
	}
	if got := c(mx1); got[0] != "ok " || !strings.HasPrefix(got[1], "wrong no MX names mx2.example.net") {
		t.Errorf("mx2 not published: %q", got)
	}
	got := c(mx1, mx2, domain+". 300 IN MX 30 backup.elsewhere.test.")
	if !strings.Contains(got[0], "does not name backup.elsewhere.test") {
		t.Errorf("an MX outside the policy: %q", got)
	}
	// Without MTA-STS, an MX elsewhere is the operator's business.
	policy.Mode = mtasts.None
	if got := c(mx1, mx2, domain+". 300 IN MX 30 backup.elsewhere.test."); got[0] != "ok " {
		t.Errorf("an MX outside a policy of mode none: %q", got)
	}
}
