package srs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func rewriter(now time.Time, secrets ...string) *Rewriter {
	r := &Rewriter{Now: func() time.Time { return now }}
	for _, s := range secrets {
		r.Secrets = append(r.Secrets, []byte(s))
	}
	return r
}

func forward(t *testing.T, r *Rewriter, sender, domain string) string {
	t.Helper()
	got, err := r.Forward(sender, domain)
	if err != nil {
		t.Fatalf("Forward(%q, %q): %v", sender, domain, err)
	}
	return got
}

func TestForwardReverse(t *testing.T) {
	now := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	r := rewriter(now, "s3cret")

	a := forward(t, r, "alice@example.org", "fwd.example.com")
	if !strings.HasPrefix(a, "SRS0=") || !strings.HasSuffix(a, "=example.org=alice@fwd.example.com") || !IsSRS(a) {
		t.Fatalf("Forward = %q", a)
	}
	if got, err := r.Reverse(a); err != nil || got != "alice@example.org" {
		t.Fatalf("Reverse(%q) = %q, %v", a, got, err)
	}
	// MTAs that lower-case addresses do not break it.
	if got, err := r.Reverse(strings.ToLower(a)); err != nil || got != "alice@example.org" {
		t.Fatalf("Reverse(lower-cased) = %q, %v", got, err)
	}

	// Forwarded again by a second forwarder: SRS1, which reverses to the
	// first forwarder's address, and which a third keeps short.
	r2 := rewriter(now, "another")
	b := forward(t, r2, a, "hop2.example")
	if want := "=fwd.example.com==" + strings.TrimPrefix(strings.TrimSuffix(a, "@fwd.example.com"), "SRS0=") + "@hop2.example"; !strings.HasPrefix(b, "SRS1=") || !strings.HasSuffix(b, want) {
		t.Fatalf("Forward(SRS0) = %q, want SRS1=HASH%s", b, want)
	}
	if got, err := r2.Reverse(b); err != nil || got != a {
		t.Fatalf("Reverse(%q) = %q, %v; want %q", b, got, err, a)
	}
	c := forward(t, rewriter(now, "third"), b, "hop3.example")
	if !strings.HasPrefix(c, "SRS1=") || !strings.HasSuffix(c, strings.SplitN(b, "=", 3)[2][:len(strings.SplitN(b, "=", 3)[2])-len("hop2.example")]+"hop3.example") {
		t.Fatalf("Forward(SRS1) = %q from %q", c, b)
	}
	if got, err := rewriter(now, "third").Reverse(c); err != nil || got != a {
		t.Fatalf("Reverse(%q) = %q, %v; want %q", c, got, err, a)
	}

	// Not rewritten: the null sender, and our own domain's senders.
	for _, s := range []string{"", "bob@fwd.example.com", "bob@FWD.example.com"} {
		if got := forward(t, r, s, "fwd.example.com"); got != s {
			t.Errorf("Forward(%q) = %q", s, got)
		}
	}
	if _, err := r.Forward("no-domain", "fwd.example.com"); err == nil {
		t.Error("Forward took a sender without a domain")
	}
}

func TestReverseRefuses(t *testing.T) {
	made := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	a := forward(t, rewriter(made, "s3cret"), "alice@example.org", "fwd.example.com")
	for _, c := range []struct {
		name, addr string
		at         time.Time
		secret     string
		want       error
	}{
		{"21 days later", a, made.Add(21 * 24 * time.Hour), "s3cret", nil},
		{"22 days later", a, made.Add(22 * 24 * time.Hour), "s3cret", ErrExpired},
		{"a day earlier", a, made.Add(-24 * time.Hour), "s3cret", ErrExpired},
		{"another secret", a, made, "guess", ErrForged},
		{"another sender", strings.Replace(a, "alice", "mallory", 1), made, "s3cret", ErrForged},
		{"another domain", strings.Replace(a, "example.org", "evil.example", 1), made, "s3cret", ErrForged},
		{"no hash", "SRS0==JV=example.org=alice@fwd.example.com", made, "s3cret", ErrInvalid},
		{"short", "SRS0=abcd=JV=example.org@fwd.example.com", made, "s3cret", ErrInvalid},
		{"bad timestamp", "SRS0=abcd=J1=example.org=alice@fwd.example.com", made, "s3cret", ErrInvalid},
		{"SRS1 without host", "SRS1=abcd==@fwd.example.com", made, "s3cret", ErrInvalid},
		{"SRS1 forged", "SRS1=abcd=hop1.example==xxxx=JV=example.org=alice@fwd.example.com", made, "s3cret", ErrForged},
		{"plain", "alice@fwd.example.com", made, "s3cret", ErrNotSRS},
		{"SRS2", "SRS2=abcd=JV=example.org=alice@fwd.example.com", made, "s3cret", ErrNotSRS},
	} {
		_, err := rewriter(c.at, c.secret).Reverse(c.addr)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: Reverse(%q) = %v, want %v", c.name, c.addr, err, c.want)
		}
	}
	// A rotated-out secret still verifies; the new one signs.
	rot := rewriter(made, "new", "s3cret")
	if got, err := rot.Reverse(a); err != nil || got != "alice@example.org" {
		t.Fatalf("after rotation: %q, %v", got, err)
	}
	if _, err := rewriter(made, "s3cret").Reverse(forward(t, rot, "alice@example.org", "fwd.example.com")); !errors.Is(err, ErrForged) {
		t.Fatalf("rotated Forward signed with the old secret: %v", err)
	}
}

// Mail::SRS, the reference implementation (Debian's srs), reverses our
// addresses and we reverse its, SRS0 and SRS1.
func TestMailSRSInterop(t *testing.T) {
	bin, err := exec.LookPath("srs")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("srs (Debian package srs, Mail::SRS) is not installed; .ci/run installs it")
		}
		t.Skip("srs (Debian package srs) is not installed")
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"--secret=s3cret"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("srs %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	r := rewriter(time.Now(), "s3cret")

	ours := forward(t, r, "alice@example.org", "fwd.example.com")
	if got := run("--reverse", "--address="+ours); got != "alice@example.org" {
		t.Errorf("Mail::SRS reversed our %s to %s", ours, got)
	}
	theirs := run("--forward", "--address=alice@example.org", "--alias=fwd.example.com")
	if theirs != ours {
		t.Errorf("Mail::SRS made %s, we made %s", theirs, ours)
	}
	if got, err := r.Reverse(theirs); err != nil || got != "alice@example.org" {
		t.Errorf("Reverse(Mail::SRS's %s) = %s, %v", theirs, got, err)
	}

	hop := "SRS0=xxxx=JV=example.org=alice@hop1.example"
	ours1 := forward(t, r, hop, "fwd.example.com")
	theirs1 := run("--forward", "--address="+hop, "--alias=fwd.example.com")
	if ours1 != theirs1 {
		t.Errorf("SRS1: Mail::SRS made %s, we made %s", theirs1, ours1)
	}
	if got := run("--reverse", "--address="+ours1); got != hop {
		t.Errorf("Mail::SRS reversed our %s to %s", ours1, got)
	}
}

func TestLoadSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srs", "secret")
	first, err := LoadSecrets(path)
	if err != nil || len(first) != 1 || len(first[0]) < 32 {
		t.Fatalf("new secret file: %q, %v", first, err)
	}
	again, err := LoadSecrets(path)
	if err != nil || string(again[0]) != string(first[0]) {
		t.Fatalf("reloaded: %q, %v; want %q", again, err, first)
	}
	if err := os.WriteFile(path, []byte("# rotated 2026-12-02\nnew\n\n  old  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := LoadSecrets(path); err != nil || len(s) != 2 || string(s[0]) != "new" || string(s[1]) != "old" {
		t.Fatalf("rotated file: %q, %v", s, err)
	}
	if err := os.WriteFile(path, []byte("# nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSecrets(path); err == nil {
		t.Fatal("a file without a secret was taken")
	}
}
