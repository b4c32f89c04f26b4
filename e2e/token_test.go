package e2e

import (
	"crypto/tls"
	"net/http"
	"net/smtp"
	"regexp"
	"strings"
	"testing"
)

// An app password made with the CLI logs in over IMAP, SMTP submission
// and JMAP (as a bearer token) on the running server, and stops working
// everywhere the moment it is revoked; the password keeps working.
func TestAppPassword(t *testing.T) {
	data, config := newData(t, "")
	s := startServer(t, data, config)
	const user, pass = "alice@example.test", "alice-password-1"
	setupAccount(t, s, user, pass)
	m := regexp.MustCompile(`(?m)^token: (\S+)$`).FindStringSubmatch(s.casella("account", "token", "add", "--name", "phone", user))
	if m == nil {
		t.Fatal("account token add printed no token")
	}
	token := m[1]

	smtpAuth := func(secret string) error {
		c, err := smtp.Dial(s.addr("submission"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
			t.Fatal(err)
		}
		return c.Auth(smtp.PlainAuth("", user, secret, "127.0.0.1"))
	}
	jmapStatus := func(secret string) int {
		req, _ := http.NewRequest("GET", "http://"+s.addr("http")+"/.well-known/jmap", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	if r := imapLogin(t, s.addr("imap"), user, token); !strings.HasPrefix(r, "a OK") {
		t.Errorf("IMAP LOGIN with the token: %q", r)
	}
	if err := smtpAuth(token); err != nil {
		t.Errorf("SMTP AUTH with the token: %v", err)
	}
	if code := jmapStatus(token); code != 200 {
		t.Errorf("JMAP with the bearer token: %d", code)
	}
	if out := s.casella("account", "token", "list", user); !strings.Contains(out, "phone") || strings.Contains(out, token) {
		t.Errorf("token list:\n%s", out)
	}

	s.casella("account", "token", "revoke", user, "phone")
	if r := imapLogin(t, s.addr("imap"), user, token); !strings.HasPrefix(r, "a NO") {
		t.Errorf("IMAP LOGIN with a revoked token: %q", r)
	}
	if err := smtpAuth(token); err == nil {
		t.Error("SMTP AUTH with a revoked token succeeded")
	}
	if code := jmapStatus(token); code != 401 {
		t.Errorf("JMAP with a revoked bearer token: %d", code)
	}
	if r := imapLogin(t, s.addr("imap"), user, pass); !strings.HasPrefix(r, "a OK") {
		t.Errorf("IMAP LOGIN with the password after the revocation: %q", r)
	}
}
