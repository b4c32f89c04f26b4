package e2e

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// An alias of ours with an account and an address at another provider:
// the account gets the message, and the remote copy arrives once, its
// envelope sender SRS-rewritten into example.test, which SPF allows, its
// DKIM signature and ARC seal verified by the remote Casella.
func TestAliasForward(t *testing.T) {
	p := startPair(t)
	setupAccount(t, p.remote, "bob@remote.test", "bob-password-1")
	setupAccount(t, p.remote, "carol@remote.test", "carol-password-1")
	p.ours.casella("alias", "add", "team@example.test", "alice@example.test", "bob@remote.test")
	if out := p.ours.casella("alias", "list"); !strings.Contains(out, "alice@example.test, bob@remote.test") {
		t.Fatalf("alias list:\n%s", out)
	}

	msg := testMessage("alias-1", "carol@remote.test", "team@example.test", "Meet at noon.")
	smtplibSend(t, pyJob{Port: p.remote.port("submission"), StartTLS: true, User: "carol@remote.test", Password: "carol-password-1",
		Messages: []pyMessage{{From: "carol@remote.test", To: []string{"team@example.test"}, Data: b64(msg)}}})

	count := func(s *server, user, pass string) int { return len(stored(t, s, user, pass, "INBOX")) }
	waitFor(t, 60*time.Second, "the alias's account and outside copies", func() bool {
		return count(p.ours, "alice@example.test", "alice-password-1") == 1 && count(p.remote, "bob@remote.test", "bob-password-1") == 1
	})
	bob := stored(t, p.remote, "bob@remote.test", "bob-password-1", "INBOX")[0]
	m := returnPath.FindSubmatch(bob)
	if m == nil || !strings.HasPrefix(string(m[1]), "SRS0=") || !strings.HasSuffix(string(m[1]), "=remote.test=carol@example.test") {
		t.Fatalf("bob's copy has return path %q, want an SRS0 address of example.test", m)
	}
	for _, want := range []string{"spf=pass", "arc=pass", "dkim=pass", "header.d=example.test", "Delivered-To: team@example.test"} {
		if !bytes.Contains(bob, []byte(want)) {
			t.Errorf("bob's copy lacks %q:\n%s", want, bob)
		}
	}

	// Nothing arrives twice.
	time.Sleep(3 * time.Second)
	if a, b := count(p.ours, "alice@example.test", "alice-password-1"), count(p.remote, "bob@remote.test", "bob-password-1"); a != 1 || b != 1 {
		t.Fatalf("alice has %d messages and bob %d, want 1 and 1", a, b)
	}
}
