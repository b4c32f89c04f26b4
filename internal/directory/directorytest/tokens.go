package directorytest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"casella/internal/directory"
)

// tokenAccounts returns the directory's Tokens and two accounts, ann's
// and bob's; it skips a directory that keeps no app passwords.
func tokenAccounts(t *testing.T, ctx context.Context, d directory.Directory) (directory.Tokens, directory.Account, directory.Account) {
	tk, ok := d.(directory.Tokens)
	if !ok {
		t.Skip("the directory keeps no app passwords")
	}
	addDomain(t, ctx, d, "example.com")
	return tk, addAccount(t, ctx, d, "ann@example.com"), addAccount(t, ctx, d, "bob@example.com")
}

// testTokens checks directories that keep app passwords
// (directory.Tokens).
func testTokens(t *testing.T, ctx context.Context, d directory.Directory) {
	tk, ann, bob := tokenAccounts(t, ctx, d)

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

// testTokenChanges checks the change log of app passwords (JMAP's
// AppPassword/changes): creations and revocations, each with a state of
// its own, uses not at all, other accounts' never; and that a directory
// that tells of changes (JMAP push) wakes the account's watch.
func testTokenChanges(t *testing.T, ctx context.Context, d directory.Directory) {
	tk, ann, bob := tokenAccounts(t, ctx, d)
	changes := func(since int64) ([]change, int64) {
		t.Helper()
		l, st, err := tk.TokenChanges(ctx, ann.ID, since)
		must(t, err)
		return changeList(t, l, since, st), st
	}
	s0, err := tk.TokenState(ctx, ann.ID)
	must(t, err)
	if l, st := changes(s0); len(l) != 0 || st != s0 {
		t.Errorf("changes at the current state: %v %d, want none at %d", l, st, s0)
	}
	var woken <-chan struct{}
	if w, ok := d.(directory.RecordWatch); ok {
		var stop func()
		woken, stop = w.WatchRecords(ann.ID)
		defer stop()
	}
	phone, secret, err := tk.AddToken(ctx, ann.ID, "phone", time.Time{})
	must(t, err)
	if woken != nil {
		select {
		case <-woken:
		case <-time.After(10 * time.Second):
			t.Error("creating a token did not wake the account's watch")
		}
	}
	laptop, _, err := tk.AddToken(ctx, ann.ID, "laptop", time.Time{})
	must(t, err)
	_, _, err = tk.AddToken(ctx, bob.ID, "bob's", time.Time{})
	must(t, err)
	l, s1 := changes(s0)
	if want := []change{{phone.ID, true, false}, {laptop.ID, true, false}}; !slices.Equal(l, want) {
		t.Errorf("changes after two creations: %v, want %v", l, want)
	}
	// A use is not a change.
	_, err = tk.AuthenticateToken(ctx, secret)
	must(t, err)
	if l, st := changes(s1); len(l) != 0 || st != s1 {
		t.Errorf("changes after a use: %v at %d, want none at %d", l, st, s1)
	}
	must(t, tk.RevokeToken(ctx, ann.ID, phone.ID))
	if woken != nil {
		select {
		case <-woken:
		case <-time.After(10 * time.Second):
			t.Error("revoking a token did not wake the account's watch")
		}
	}
	l, s2 := changes(s1)
	if want := []change{{phone.ID, false, true}}; !slices.Equal(l, want) || s2 <= s1 {
		t.Errorf("changes after a revocation: %v at %d, want %v after %d", l, s2, want, s1)
	}
	// Created and revoked since s0: both flags, for the caller to leave
	// out (RFC 8620 section 5.2).
	l, _ = changes(s0)
	if want := []change{{laptop.ID, true, false}, {phone.ID, true, true}}; !slices.Equal(l, want) {
		t.Errorf("changes since the beginning: %v, want %v", l, want)
	}
	// Revoking by name revokes that token alone.
	must(t, tk.RevokeToken(ctx, ann.ID, "laptop"))
	if l, _ := changes(s2); !slices.Equal(l, []change{{laptop.ID, false, true}}) {
		t.Errorf("changes after revoking by name: %v", l)
	}
	if err := tk.RevokeToken(ctx, ann.ID, "laptop"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("revoking twice: %v, want ErrNotFound", err)
	}
}
