package srs

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Reverse takes any address from the network: it never panics, refuses
// with one of its errors, and what it accepts is what Forward makes.
func FuzzReverse(f *testing.F) {
	now := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	r := rewriter(now, "s3cret")
	for _, s := range []string{
		"SRS0=abcd=JV=example.org=alice@fwd.example.com", "SRS1=abcd=hop1.example==xxxx=JV=example.org=alice@x",
		"srs0+abcd=zz=a=b@c", "SRS0-====@", "SRS1=", "@", "SRS0=abcd=JV=example.org=al=ice@fwd@x", "plain@example.com",
	} {
		f.Add(s)
	}
	a, _ := r.Forward("alice@example.org", "fwd.example.com")
	f.Add(a)
	f.Fuzz(func(t *testing.T, addr string) {
		got, err := r.Reverse(addr)
		if err != nil {
			if !errors.Is(err, ErrNotSRS) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrForged) && !errors.Is(err, ErrExpired) {
				t.Fatalf("Reverse(%q): unexpected error %v", addr, err)
			}
			return
		}
		if !IsSRS(addr) || !strings.Contains(got, "@") {
			t.Fatalf("Reverse(%q) = %q", addr, got)
		}
		// A forwarder's own rewriting of the result reverses to it again.
		if _, host, ok := split(got); ok && !IsSRS(got) && !strings.EqualFold(host, "fwd.example.com") {
			again, err := r.Forward(got, "fwd.example.com")
			if err != nil {
				t.Fatalf("Forward(%q): %v", got, err)
			}
			if back, err := r.Reverse(again); err != nil || back != got {
				t.Fatalf("Reverse(Forward(%q)) = %q, %v", got, back, err)
			}
		}
	})
}
