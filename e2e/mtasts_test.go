package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"casella/internal/resolver/dnstest"
	"casella/internal/tlsconf"
	"casella/internal/tlsrpt"
)

// A domain whose MTA-STS policy (RFC 8461) is in enforce mode, served over
// HTTPS with a certificate Casella trusts, and whose MX, Debian's Postfix,
// shows a certificate no one vouches for: Casella does not deliver in
// plain text or over the untrusted TLS, retries, and records each failed
// session as certificate-not-trusted; the day's TLS report (RFC 8460)
// built from those records counts them.
func TestMTASTSEnforceBadCertificate(t *testing.T) {
	if os.Geteuid() != 0 && os.Getenv("CI") == "" {
		t.Skip("the policy host must listen on port 443, which needs root")
	}
	pf := startPostfix(t, postfixOptions{hostname: "mx.remote.test", domain: "remote.test"})

	// The policy host, on port 443 of a loopback address of its own, with
	// a certificate Casella trusts through SSL_CERT_FILE.
	dir := t.TempDir()
	webTLS, err := tlsconf.Load("", "", dir, "mta-sts.remote.test")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", filepath.Join(dir, "tls", "cert.pem"))
	var l net.Listener
	var ip string
	for range 20 {
		ip = fmt.Sprintf("127.0.%d.%d", rand.IntN(250)+1, rand.IntN(250)+2)
		if l, err = net.Listen("tcp", ip+":443"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("listening on port 443 of a loopback address: %v", err)
	}
	policy := "version: STSv1\r\nmode: enforce\r\nmx: mx.remote.test\r\nmax_age: 86400\r\n"
	fetched := make(chan struct{}, 100)
	web := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "mta-sts.remote.test" || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		fetched <- struct{}{}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, policy)
	}), TLSConfig: webTLS}
	go web.ServeTLS(l, "", "")
	t.Cleanup(func() { web.Shutdown(context.Background()) })

	dns := dnstest.Start(t,
		"remote.test. 300 IN MX 10 mx.remote.test.",
		"mx.remote.test. 300 IN A 127.0.0.1",
		`_mta-sts.remote.test. 300 IN TXT "v=STSv1; id=20261202"`,
		"mta-sts.remote.test. 300 IN A "+ip,
		`_smtp._tls.remote.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@remote.test"`,
	)
	data, config := newData(t, "")
	setConfig(t, config, "smtp", fmt.Sprintf(`resolvers = [%q]
delivery_port = %s
retry_min = "1s"
retry_max = "1s"`, dns.Addr, pf.port))
	s := startServer(t, data, config)
	setupAccount(t, s, "alice@example.test", "alice-password-1")

	msg := testMessage("sts-1", "alice@example.test", "bob@remote.test", "Only over verified TLS.")
	smtplibSend(t, pyJob{Port: s.port("submission"), StartTLS: true, User: "alice@example.test", Password: "alice-password-1",
		Messages: []pyMessage{{From: "alice@example.test", To: []string{"bob@remote.test"}, Data: b64(msg)}}})

	var events []tlsrpt.Event
	waitFor(t, 30*time.Second, "three failed TLS sessions recorded", func() bool {
		events = dayEvents(t, filepath.Join(data, "tlsrpt"))
		return len(events) >= 3
	})
	if len(fetched) == 0 {
		t.Fatal("the policy was never fetched")
	}
	if n := len(pf.delivered()); n != 0 {
		t.Fatalf("Postfix delivered %d messages, want none under an enforced policy with an untrusted certificate", n)
	}
	// Postfix saw each attempt start TLS and give up, never a MAIL FROM.
	if log := pf.log(); strings.Count(log, "connect from localhost") < 3 || strings.Contains(log, "from=<alice@example.test>") {
		t.Fatalf("Postfix's log, want several connections and no transaction:\n%s", log)
	}
	reports := (&tlsrpt.Recorder{Submitter: "mx.example.test"}).Reports(time.Now().UTC().Truncate(24*time.Hour), events)
	rep, ok := reports["remote.test"]
	if !ok || len(rep.Policies) != 1 {
		t.Fatalf("TLS reports %+v, want one for remote.test with one policy", reports)
	}
	p := rep.Policies[0]
	raw, _ := json.Marshal(p)
	if p.Policy.Type != "sts" || p.Summary.Success != 0 || p.Summary.Failure != len(events) || len(p.Failures) != 1 ||
		p.Failures[0].ResultType != "certificate-not-trusted" || p.Failures[0].ReceivingMXHost != "mx.remote.test" ||
		!strings.Contains(strings.Join(p.Policy.String, "\n"), "mode: enforce") {
		t.Fatalf("report for remote.test: %s\nwant only sts failures certificate-not-trusted with mx.remote.test", raw)
	}
}

// dayEvents reads the TLS session records of every day file in dir.
func dayEvents(t *testing.T, dir string) []tlsrpt.Event {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	var events []tlsrpt.Event
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var ev tlsrpt.Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			events = append(events, ev)
		}
		f.Close()
	}
	return events
}
