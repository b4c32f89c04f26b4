package main

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"casella/internal/directory"
)

// An app password made with the CLI logs in as the account's password,
// is listed without its secret, and stops working when revoked.
func TestAccountToken(t *testing.T) {
	a := admin{t, filepath.Join(t.TempDir(), "data")}
	a.ok("domain", "add", "example.com")
	a.ok("account", "add", "--password", "right", "alice@example.com")

	out := a.ok("account", "token", "add", "--name", "phone", "alice@example.com")
	m := regexp.MustCompile(`(?m)^token: (cst_\S+)$`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "shown only this once") {
		t.Fatalf("token add printed no token:\n%s", out)
	}
	token := m[1]
	if err := authenticate(t, a.dir, "alice@example.com", token); err != nil {
		t.Fatalf("login with the token: %v", err)
	}
	if err := authenticate(t, a.dir, "alice@example.com", "right"); err != nil {
		t.Fatalf("login with the password beside the token: %v", err)
	}
	a.ok("account", "token", "add", "--expires", "30d", "--name", "laptop", "alice@example.com")

	list := a.ok("account", "token", "list", "alice@example.com")
	if strings.Contains(list, token) || strings.Contains(list, token[len(token)-52:]) {
		t.Fatalf("token list shows the secret:\n%s", list)
	}
	want := time.Now().AddDate(0, 0, 30).UTC().Format("2006-01-02")
	if !regexp.MustCompile(`(?m)^phone\s.*\d\s+never\n`).MatchString(list) || !regexp.MustCompile(`(?m)^laptop\s.*never\s+`+want).MatchString(list) {
		t.Fatalf("token list:\n%s", list)
	}

	a.fail(2, []string{"account", "token", "add", "--expires", "soon", "alice@example.com"}, "invalid --expires")
	a.fail(1, []string{"account", "token", "add", "--name", "phone", "alice@example.com"}, "already exists")
	a.fail(1, []string{"account", "token", "revoke", "alice@example.com", "tablet"}, "not found", "token list")

	if out := a.ok("account", "token", "revoke", "alice@example.com", "phone"); !strings.Contains(out, "revoked token phone") {
		t.Fatalf("token revoke: %q", out)
	}
	if err := authenticate(t, a.dir, "alice@example.com", token); !errors.Is(err, directory.ErrBadCredentials) {
		t.Fatalf("login with a revoked token: %v", err)
	}
	if out := a.ok("account", "token", "add", "--help"); !strings.Contains(out, "Bearer") {
		t.Fatalf("token add --help:\n%s", out)
	}
}
