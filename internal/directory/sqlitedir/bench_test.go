package sqlitedir

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkLogins compares the logins a client makes again and
// again: the password (argon2id once, then the login cache), an app
// password given as the password, the same as a bearer token, and a
// wrong password (argon2id every time, as a guesser pays).
func BenchmarkLogins(b *testing.B) {
	d, err := Open(filepath.Join(b.TempDir(), "directory.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	ctx := b.Context()
	if _, err := d.AddDomain(ctx, "example.com"); err != nil {
		b.Fatal(err)
	}
	a, err := d.AddAccount(ctx, "ann@example.com", "ann's password", 0, "")
	if err != nil {
		b.Fatal(err)
	}
	_, token, err := d.AddToken(ctx, a.ID, "phone", time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("password-cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := d.Authenticate(ctx, "ann@example.com", "ann's password"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("token-as-password", func(b *testing.B) {
		for b.Loop() {
			if _, err := d.Authenticate(ctx, "ann@example.com", token); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bearer-token", func(b *testing.B) {
		for b.Loop() {
			if _, err := d.AuthenticateToken(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wrong-password", func(b *testing.B) {
		for b.Loop() {
			if _, err := d.Authenticate(ctx, "ann@example.com", "guess"); err == nil {
				b.Fatal("a wrong password passed")
			}
		}
	})
}
