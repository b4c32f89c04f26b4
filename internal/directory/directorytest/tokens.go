package directorytest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"casella/internal/directory"
)

// testTokens checks directories that keep app passwords
// (directory.Tokens); it is skipped for those that do not.
func testTokens(t *testing.T, ctx context.Context, d directory.Directory) {
	tk, ok := d.(directory.Tokens)
	if !ok {
		t.Skip("the directory keeps no app passwords")
	}
	addDomain(t, ctx, d, "example.com")
	ann := addAccount(t, ctx, d, "ann@example.com")
	bob := addAccount(t, ctx, d, "bob@example.com")

	tok, secret, err := tk.AddToken(ctx, ann.ID, "phone", time.Time{})
	must(t, err)
	if !strings.HasPrefix(secret, "cst_") || !strings.Contains(secret, tok.ID) {
		t.Fatalf("token %q does not carry its id %q", secret, tok.ID)
	}
	if _, _, err := tk.AddToken(ctx, ann.ID, "phone", time.Time{}); !errors.Is(err, directory.ErrExists) {
		t.Fatalf("second token named phone: %v, want ErrExists", err)
	}
	if _, _, err := tk.AddToken(ctx, ann.ID, "old", time.Now().Add(-time.Hour)); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("token expired at birth: %v, want ErrInvalid", err)
	}
	if _, _, err := tk.AddToken(ctx, ann.ID, strings.Repeat("x", directory.MaxTokenName+1), time.Time{}); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("overlong name: %v, want ErrInvalid", err)
	}

	// The token logs in as a bearer token and as the account's password,
	// and only to its own account.
	got, err := tk.AuthenticateToken(ctx, secret)
	must(t, err)
	if got.ID != ann.ID {
		t.Fatalf("bearer token logged in to %d, want %d", got.ID, ann.ID)
	}
	if got, err := d.Authenticate(ctx, "Ann@Example.com", secret); err != nil || got.ID != ann.ID {
		t.Fatalf("token as password: %v, %v", got, err)
	}
	if _, err := d.Authenticate(ctx, "bob@example.com", secret); !errors.Is(err, directory.ErrBadCredentials) {
		t.Fatalf("ann's token for bob: %v, want ErrBadCredentials", err)
	}
	// The password still works beside it.
	if _, err := d.Authenticate(ctx, "ann@example.com", "secret ann@example.com"); err != nil {
		t.Fatalf("password beside a token: %v", err)
	}
	// A wrong secret with a real id, and garbage, fail.
	id, _ := directory.ParseToken(secret)
	forged := "cst_" + id + "_" + strings.Repeat("a", len(secret)-len("cst_"+id+"_"))
	for _, bad := range []string{forged, "cst_", "Bearer x", strings.Repeat("z", 5000)} {
		if _, err := tk.AuthenticateToken(ctx, bad); !errors.Is(err, directory.ErrBadCredentials) {
			t.Fatalf("token %.20q: %v, want ErrBadCredentials", bad, err)
		}
	}

	l, err := tk.Tokens(ctx, ann.ID)
	must(t, err)
	if len(l) != 1 || l[0].Name != "phone" || l[0].ID != tok.ID || l[0].LastUsed.IsZero() || !l[0].Expires.IsZero() {
		t.Fatalf("tokens of ann: %+v", l)
	}
	if l, err := tk.Tokens(ctx, bob.ID); err != nil || len(l) != 0 {
		t.Fatalf("tokens of bob: %+v, %v", l, err)
	}

	// Revoked: refused at once. Revoking another account's token fails.
	if err := tk.RevokeToken(ctx, bob.ID, "phone"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("revoking ann's token as bob: %v, want ErrNotFound", err)
	}
	must(t, tk.RevokeToken(ctx, ann.ID, tok.ID))
	if _, err := tk.AuthenticateToken(ctx, secret); !errors.Is(err, directory.ErrBadCredentials) {
		t.Fatalf("revoked token: %v, want ErrBadCredentials", err)
	}
	if _, err := d.Authenticate(ctx, "ann@example.com", secret); !errors.Is(err, directory.ErrBadCredentials) {
		t.Fatalf("revoked token as password: %v, want ErrBadCredentials", err)
	}

	// An unnamed token is named by its id; an expiring one stops working.
	tok, secret, err = tk.AddToken(ctx, ann.ID, "", time.Now().Add(1100*time.Millisecond))
	must(t, err)
	if tok.Name != tok.ID {
		t.Fatalf("unnamed token named %q, want its id %q", tok.Name, tok.ID)
	}
	must(t, errOf(tk.AuthenticateToken(ctx, secret)))
	time.Sleep(2100 * time.Millisecond) // expiry has a resolution of a second
	if _, err := tk.AuthenticateToken(ctx, secret); !errors.Is(err, directory.ErrBadCredentials) {
		t.Fatalf("expired token: %v, want ErrBadCredentials", err)
	}

	// Tokens go with their account.
	_, secret, err = tk.AddToken(ctx, bob.ID, "laptop", time.Time{})
	must(t, err)
	_, err = d.RemoveAccount(ctx, "bob@example.com")
	must(t, err)
	if _, err := tk.AuthenticateToken(ctx, secret); !errors.Is(err, directory.ErrBadCredentials) {
		t.Fatalf("token of a removed account: %v, want ErrBadCredentials", err)
	}
}

func errOf(_ directory.Account, err error) error { return err }
