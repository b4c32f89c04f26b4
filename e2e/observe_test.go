package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// imapLogin tries one IMAP LOGIN and returns the tagged reply.
func imapLogin(t *testing.T, addr, user, pass string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "a LOGIN %q %q\r\n", user, pass)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "a ") {
			return line
		}
	}
}

// The issue: when the first start failed after making the demo account,
// its password was never shown. Now the account is made only once
// everything listens, so the next start makes it and shows the password.
func TestDemoPasswordShownAfterFailedFirstStart(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	data := filepath.Join(t.TempDir(), "data")
	config := filepath.Join(t.TempDir(), "casella.toml")
	demo := strings.Replace(serverConfig, "[demo]\nenabled = false", "[demo]\nenabled = true", 1)
	failing := strings.Replace(demo, "[http]\nlisten = \"127.0.0.1:0\"", "[http]\nlisten = \""+busy.Addr().String()+"\"", 1)
	if failing == demo || demo == serverConfig {
		t.Fatal("test configuration not rewritten")
	}
	if err := os.WriteFile(config, []byte(failing), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCasella(data, config, "serve")
	if err == nil || !strings.Contains(out, "listening on") {
		t.Fatalf("serve with a busy port: err %v, output:\n%s", err, out)
	}
	if strings.Contains(out, "Demo account") {
		t.Fatalf("failed start printed a demo account:\n%s", out)
	}

	if err := os.WriteFile(config, []byte(demo), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, data, config)
	if s.demo[0] == "" {
		t.Fatalf("second start printed no demo password:\n%s", s.log())
	}
	if r := imapLogin(t, s.addr("imap"), s.demo[0], s.demo[1]); !strings.HasPrefix(r, "a OK") {
		t.Fatalf("login with the printed demo password: %q", r)
	}
}

// Refusals and failed logins are counted in /metrics by protocol and
// reason.
func TestRefusalsInMetrics(t *testing.T) {
	data, config := newData(t, "")
	s := startServer(t, data, config)
	s.casella("domain", "add", "example.test")
	s.casella("account", "add", "--password", "right", "user@example.test")

	c, err := smtp.Dial(s.addr("smtp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("s@remote.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("nobody@example.test", nil); err == nil {
		t.Fatal("RCPT to an unknown user accepted")
	}
	if err := c.Rcpt("someone@elsewhere.test", nil); err == nil {
		t.Fatal("relay accepted")
	}
	if r := imapLogin(t, s.addr("imap"), "user@example.test", "wrong"); !strings.HasPrefix(r, "a NO") {
		t.Fatalf("wrong password: %q", r)
	}

	// Failed JMAP logins, by password and by bearer token, are counted
	// by the same throttle as IMAP's.
	for _, auth := range []func(*http.Request){
		func(r *http.Request) { r.SetBasicAuth("user@example.test", "wrong") },
		func(r *http.Request) { r.Header.Set("Authorization", "Bearer cst_nonsense") },
	} {
		req, _ := http.NewRequest("GET", "http://"+s.addr("http")+"/.well-known/jmap", nil)
		auth(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("JMAP with bad credentials: %s", resp.Status)
		}
	}

	resp, err := http.Get("http://" + s.addr("http") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`casella_refusals_total{protocol="smtp",reason="no_such_user"} 1`,
		`casella_refusals_total{protocol="smtp",reason="relay"} 1`,
		`casella_refusals_total{protocol="imap",reason="auth_failed"} 1`,
		`casella_refusals_total{protocol="jmap",reason="auth_failed"} 2`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if log := s.log(); !strings.Contains(log, "login failed") || !strings.Contains(log, "account=user@example.test") || !strings.Contains(log, "remote=127.0.0.1") {
		t.Errorf("failed login not logged with account and address:\n%s", log)
	}
}
