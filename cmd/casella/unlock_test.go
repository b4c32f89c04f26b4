package main

import (
	"context"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"casella/internal/directory/sqlitedir"
	"casella/internal/limit"
	"casella/internal/server"
)

// The admin CLI sees the lock a server's login throttle put in the
// directory, and lifts it for the server too.
func TestAccountUnlock(t *testing.T) {
	a := admin{t, filepath.Join(t.TempDir(), "data")}
	a.ok("domain", "add", "example.com")
	a.ok("account", "add", "--password", "right", "alice@example.com")
	if out := a.ok("account", "show", "alice@example.com"); !regexp.MustCompile(`locked:\s+no\n`).MatchString(out) {
		t.Fatalf("account show of an account never attacked:\n%s", out)
	}

	dir, err := sqlitedir.Open(filepath.Join(a.dir, server.DirectoryFile))
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	throttle := limit.NewAuth(limit.AuthOptions{Free: 100, NetworkFree: 100, LockAfter: 3, Locks: dir})
	from := &net.TCPAddr{IP: net.ParseIP("198.51.100.7"), Port: 4000}
	for range 3 {
		at, err := throttle.Admit(t.Context(), "imap", "alice@example.com", from)
		if err != nil {
			t.Fatal(err)
		}
		at.Failed()
	}
	if _, err := throttle.Admit(t.Context(), "imap", "alice@example.com", from); err != limit.ErrLocked {
		t.Fatalf("Admit after 3 failures = %v, want ErrLocked", err)
	}

	out := a.ok("account", "show", "alice@example.com")
	if !strings.Contains(out, "after 3 failed logins, the last from 198.51.100.7") {
		t.Fatalf("account show of a locked account:\n%s", out)
	}
	if out := a.ok("account", "unlock", "alice@example.com"); !strings.Contains(out, "unlocked alice@example.com") {
		t.Fatalf("account unlock: %q", out)
	}
	if out := a.ok("account", "unlock", "alice@example.com"); !strings.Contains(out, "was not locked") {
		t.Fatalf("second account unlock: %q", out)
	}
	at, err := throttle.Admit(context.Background(), "imap", "alice@example.com", from)
	if err != nil {
		t.Fatalf("Admit after unlock: %v", err)
	}
	at.Unchecked()
	a.fail(1, []string{"account", "unlock", "nobody@example.com"}, "not found")
}
