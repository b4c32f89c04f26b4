package jmap

import (
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"casella/internal/directory/sqlitedir"
	"casella/internal/limit"
)

// Bearer tokens are app passwords from a real directory: accepted while
// they exist, refused the moment they are revoked, and failures are
// counted by the login throttle like wrong passwords.
func TestBearerToken(t *testing.T) {
	e := newTestEnv(t)
	dir, err := sqlitedir.Open(filepath.Join(t.TempDir(), "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	ctx := t.Context()
	if _, err := dir.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	acct, err := dir.AddAccount(ctx, testUser, testPass, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	refused := map[string]int{}
	e.srv.Auth, e.srv.Tokens = dir, dir
	e.srv.AuthLimit = limit.NewAuth(limit.AuthOptions{Refused: func(proto, reason string) {
		mu.Lock()
		defer mu.Unlock()
		refused[proto+"/"+reason]++
	}})
	_, token, err := dir.AddToken(ctx, acct.ID, "phone", time.Time{})
	if err != nil {
		t.Fatal(err)
	}

	get := func(auth string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", e.http.URL+"/.well-known/jmap", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := get("Bearer " + token); resp.StatusCode != 200 {
		t.Fatalf("session with a bearer token: %s", resp.Status)
	}
	// The token is also the account's app password over Basic.
	req, _ := http.NewRequest("GET", e.http.URL+"/.well-known/jmap", nil)
	req.SetBasicAuth(testUser, token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("session with the token as password: %v %v", resp, err)
	}

	resp := get("Bearer cst_" + strings.Repeat("a", 16) + "_" + strings.Repeat("b", 52))
	if resp.StatusCode != 401 || !strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), ","), "Bearer") {
		t.Fatalf("unknown token: %s %v", resp.Status, resp.Header)
	}
	if resp := get("Bearer nonsense"); resp.StatusCode != 401 {
		t.Fatalf("malformed token: %s", resp.Status)
	}
	if err := dir.RevokeToken(ctx, acct.ID, "phone"); err != nil {
		t.Fatal(err)
	}
	if resp := get("Bearer " + token); resp.StatusCode != 401 {
		t.Fatalf("revoked token: %s", resp.Status)
	}
	mu.Lock()
	defer mu.Unlock()
	if refused["jmap/auth_failed"] != 3 {
		t.Fatalf("refusals %v, want 3 jmap/auth_failed", refused)
	}
}
