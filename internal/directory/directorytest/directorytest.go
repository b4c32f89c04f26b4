// Package directorytest is the conformance suite that every implementation
// of directory.Directory passes.
//
// Implementation notes:
//   - Each subtest opens a fresh, empty directory, so subtests do not
//     depend on one another's data.
//   - Tests check errors with errors.Is against the sentinel errors of
//     package directory, never against message text.
package directorytest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"casella/internal/directory"
	"casella/internal/store"
)

// Run runs the conformance suite. open returns a new, empty directory; the
// suite closes it.
func Run(t *testing.T, open func(t *testing.T) directory.Directory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, d directory.Directory)
	}{
		{"Domains", testDomains},
		{"RemoveDomainInUse", testRemoveDomainInUse},
		{"Accounts", testAccounts},
		{"AccountNeedsLocalDomain", testAccountNeedsLocalDomain},
		{"Namespace", testNamespace},
		{"Aliases", testAliases},
		{"ResolvePlain", testResolvePlain},
		{"ResolveSubaddress", testResolveSubaddress},
		{"ResolveAlias", testResolveAlias},
		{"AliasForwards", testAliasForwards},
		{"ResolveCatchAll", testResolveCatchAll},
		{"RemoveAccountCleansUp", testRemoveAccountCleansUp},
		{"Authenticate", testAuthenticate},
		{"Cells", testCells},
		{"InvalidInput", testInvalidInput},
		{"SieveScripts", testSieveScripts},
		{"SieveChanges", testSieveChanges},
		{"SieveMemory", testSieveMemory},
		{"Tokens", testTokens},
		{"TokenChanges", testTokenChanges},
		{"Submissions", testSubmissions},
		{"SubmissionExpiry", testSubmissionExpiry},
		{"Locks", testLocks},
		{"CertCache", testCertCache},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := open(t)
			t.Cleanup(func() {
				if err := d.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.fn(t, t.Context(), d)
		})
	}
}

// must fails the test when err is not nil.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails the test when err does not wrap target.
func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func addDomain(t *testing.T, ctx context.Context, d directory.Directory, name string) {
	t.Helper()
	_, err := d.AddDomain(ctx, name)
	must(t, err)
}

func addAccount(t *testing.T, ctx context.Context, d directory.Directory, addr string) directory.Account {
	t.Helper()
	a, err := d.AddAccount(ctx, addr, "secret "+addr, 0, "")
	must(t, err)
	return a
}

func testDomains(t *testing.T, ctx context.Context, d directory.Directory) {
	dom, err := d.AddDomain(ctx, "Example.COM")
	must(t, err)
	if dom.Name != "example.com" || dom.Created.IsZero() {
		t.Fatalf("AddDomain = %+v, want name example.com and a creation time", dom)
	}
	_, err = d.AddDomain(ctx, "example.com")
	wantErr(t, err, directory.ErrExists, "adding a domain twice")
	addDomain(t, ctx, d, "another.example")

	l, err := d.Domains(ctx)
	must(t, err)
	var names []string
	for _, dom := range l {
		names = append(names, dom.Name)
	}
	if !slices.Equal(names, []string{"another.example", "example.com"}) {
		t.Fatalf("Domains = %v", names)
	}
	for _, q := range []string{"example.com", "EXAMPLE.com"} {
		if ok, err := d.IsLocal(ctx, q); err != nil || !ok {
			t.Fatalf("IsLocal(%q) = %v, %v; want true", q, ok, err)
		}
	}
	if ok, err := d.IsLocal(ctx, "elsewhere.example"); err != nil || ok {
		t.Fatalf("IsLocal(elsewhere.example) = %v, %v; want false", ok, err)
	}

	must(t, d.RemoveDomain(ctx, "EXAMPLE.COM"))
	wantErr(t, d.RemoveDomain(ctx, "example.com"), directory.ErrNotFound, "removing a removed domain")
	if ok, err := d.IsLocal(ctx, "example.com"); err != nil || ok {
		t.Fatalf("IsLocal after removal = %v, %v; want false", ok, err)
	}
}

func testRemoveDomainInUse(t *testing.T, ctx context.Context, d directory.Directory) {
	addDomain(t, ctx, d, "example.com")
	addDomain(t, ctx, d, "other.example")
	addAccount(t, ctx, d, "user@example.com")
	wantErr(t, d.RemoveDomain(ctx, "example.com"), directory.ErrInUse, "removing a domain with an account")

	addAccount(t, ctx, d, "user@other.example")
	must(t, d.AddAlias(ctx, "alias@example.com", []string{"user@other.example"}))
	_, err := d.RemoveAccount(ctx, "user@example.com")
	must(t, err)
	wantErr(t, d.RemoveDomain(ctx, "example.com"), directory.ErrInUse, "removing a domain with an alias")

	must(t, d.RemoveAlias(ctx, "alias@example.com"))
	must(t, d.RemoveDomain(ctx, "example.com"))
}

func testAccounts(t *testing.T, ctx context.Context, d directory.Directory) {
	addDomain(t, ctx, d, "example.com")
	addDomain(t, ctx, d, "other.example")
	a, err := d.AddAccount(ctx, "Alice@Example.com", "pw", 1<<20, "")
	must(t, err)
	if a.Address != "alice@example.com" || a.ID == 0 || a.Quota != 1<<20 || a.Created.IsZero() {
		t.Fatalf("AddAccount = %+v", a)
	}
	_, err = d.AddAccount(ctx, "ALICE@example.com", "pw", 0, "")
	wantErr(t, err, directory.ErrExists, "adding an account twice")
	b := addAccount(t, ctx, d, "bob@example.com")
	c := addAccount(t, ctx, d, "carol@other.example")
	if a.ID == b.ID || b.ID == c.ID {
		t.Fatalf("account IDs not distinct: %d %d %d", a.ID, b.ID, c.ID)
	}

	got, err := d.Account(ctx, "ALICE@EXAMPLE.COM")
	must(t, err)
	if got.ID != a.ID || got.Address != a.Address || got.Quota != a.Quota {
		t.Fatalf("Account = %+v, want %+v", got, a)
	}
	got, err = d.AccountByID(ctx, b.ID)
	must(t, err)
	if got.Address != "bob@example.com" {
		t.Fatalf("AccountByID = %+v", got)
	}
	_, err = d.AccountByID(ctx, store.Account(999999))
	wantErr(t, err, directory.ErrNotFound, "AccountByID of an unknown id")
	_, err = d.Account(ctx, "nobody@example.com")
	wantErr(t, err, directory.ErrNotFound, "Account of an unknown address")

	for _, tc := range []struct {
		domain string
		want   []string
	}{
		{"", []string{"alice@example.com", "bob@example.com", "carol@other.example"}},
		{"example.com", []string{"alice@example.com", "bob@example.com"}},
		{"Other.Example", []string{"carol@other.example"}},
	} {
		l, err := d.Accounts(ctx, tc.domain)
		must(t, err)
		var addrs []string
		for _, a := range l {
			addrs = append(addrs, a.Address)
		}
		if !slices.Equal(addrs, tc.want) {
			t.Fatalf("Accounts(%q) = %v, want %v", tc.domain, addrs, tc.want)
		}
	}
	_, err = d.Accounts(ctx, "unknown.example")
	wantErr(t, err, directory.ErrNotFound, "Accounts of an unknown domain")

	must(t, d.SetQuota(ctx, "bob@example.com", 5000))
	got, err = d.Account(ctx, "bob@example.com")
	must(t, err)
	if got.Quota != 5000 {
		t.Fatalf("quota after SetQuota = %d, want 5000", got.Quota)
	}
	wantErr(t, d.SetQuota(ctx, "bob@example.com", -1), directory.ErrInvalid, "negative quota")
	wantErr(t, d.SetQuota(ctx, "nobody@example.com", 1), directory.ErrNotFound, "SetQuota of an unknown account")

	must(t, d.SetPassword(ctx, "bob@example.com", "new password"))
	if _, err := d.Authenticate(ctx, "bob@example.com", "new password"); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	_, err = d.Authenticate(ctx, "bob@example.com", "secret bob@example.com")
	wantErr(t, err, directory.ErrBadCredentials, "login with the old password")
	wantErr(t, d.SetPassword(ctx, "nobody@example.com", "x"), directory.ErrNotFound, "SetPassword of an unknown account")
	wantErr(t, d.SetPassword(ctx, "bob@example.com", ""), directory.ErrInvalid, "empty password")

	removed, err := d.RemoveAccount(ctx, "Bob@example.com")
	must(t, err)
	if removed.ID != b.ID {
		t.Fatalf("RemoveAccount returned %+v, want id %d", removed, b.ID)
	}
	_, err = d.RemoveAccount(ctx, "bob@example.com")
	wantErr(t, err, directory.ErrNotFound, "removing a removed account")
	_, err = d.AccountByID(ctx, b.ID)
	wantErr(t, err, directory.ErrNotFound, "AccountByID of a removed account")

	// IDs are never reused: the mailbox store keys data by them.
	again := addAccount(t, ctx, d, "bob@example.com")
	if again.ID == b.ID || again.ID == a.ID || again.ID == c.ID {
		t.Fatalf("re-added account got a used id %d", again.ID)
	}
}

func testAccountNeedsLocalDomain(t *testing.T, ctx context.Context, d directory.Directory) {
	addDomain(t, ctx, d, "example.com")
	_, err := d.AddAccount(ctx, "user@elsewhere.example", "pw", 0, "")
	wantErr(t, err, directory.ErrNotLocal, "account in a remote domain")
	addAccount(t, ctx, d, "user@example.com")
	err = d.AddAlias(ctx, "alias@elsewhere.example", []string{"user@example.com"})
	wantErr(t, err, directory.ErrNotLocal, "alias in a remote domain")
	_, err = d.AddAccount(ctx, "user@example.com", "pw", -1, "")
	if err == nil {
		t.Fatal("negative quota accepted")
	}
}

func testNamespace(t *testing.T, ctx context.Context, d directory.Directory) {
	addDomain(t, ctx, d, "example.com")
	addAccount(t, ctx, d, "user@example.com")
	must(t, d.AddAlias(ctx, "info@example.com", []string{"user@example.com"}))
	_, err := d.AddAccount(ctx, "Info@example.com", "pw", 0, "")
	wantErr(t, err, directory.ErrExists, "account with an alias's address")
	err = d.AddAlias(ctx, "USER@example.com", []string{"user@example.com"})
	wantErr(t, err, directory.ErrExists, "alias with an account's address")
	err = d.AddAlias(ctx, "info@example.com", []string{"user@example.com"})
	wantErr(t, err, directory.ErrExists, "alias added twice")
}

func testAliases(t *testing.T, ctx context.Context, d directory.Directory) {
	addDomain(t, ctx, d, "example.com")
	addDomain(t, ctx, d, "other.example")
	addAccount(t, ctx, d, "a@example.com")
	addAccount(t, ctx, d, "b@other.example")
	must(t, d.AddAlias(ctx, "team@example.com", []string{"B@other.example", "a@example.com", "a@EXAMPLE.com"}))
	must(t, d.AddAlias(ctx, "x@other.example", []string{"a@example.com"}))

	err := d.AddAlias(ctx, "chain@example.com", []string{"team@example.com"})
	wantErr(t, err, directory.ErrNotFound, "alias to an alias")
	err = d.AddAlias(ctx, "ghost@example.com", []string{"nobody@example.com"})
	wantErr(t, err, directory.ErrNotFound, "alias to an unknown account")
	err = d.AddAlias(ctx, "empty@example.com", nil)
	wantErr(t, err, directory.ErrInvalid, "alias without targets")

	l, err := d.Aliases(ctx, "")
	must(t, err)
	if len(l) != 2 || l[0].Address != "team@example.com" || !slices.Equal(l[0].Targets, []string{"a@example.com", "b@other.example"}) ||
		l[1].Address != "x@other.example" || !slices.Equal(l[1].Targets, []string{"a@example.com"}) {
		t.Fatalf("Aliases = %+v", l)
	}
	l, err = d.Aliases(ctx, "other.example")
	must(t, err)
	if len(l) != 1 || l[0].Address != "x@other.example" {
		t.Fatalf("Aliases(other.example) = %+v", l)
	}
	_, err = d.Aliases(ctx, "unknown.example")
	wantErr(t, err, directory.ErrNotFound, "Aliases of an unknown domain")

	must(t, d.RemoveAlias(ctx, "Team@example.com"))
	wantErr(t, d.RemoveAlias(ctx, "team@example.com"), directory.ErrNotFound, "removing a removed alias")
	_, err = d.Resolve(ctx, "team@example.com")
	wantErr(t, err, directory.ErrNoSuchUser, "resolving a removed alias")
}

// resolved returns the addresses and tags of Resolve's answer.
func resolved(t *testing.T, ctx context.Context, d directory.Directory, addr string) []string {
	t.Helper()
	r, err := d.Resolve(ctx, addr)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", addr, err)
	}
	var l []string
	for _, rc := range r {
		s := rc.Account.Address
		if rc.Forward != "" {
			s = "forward " + rc.Forward
		}
		if rc.Tag != "" {
			s += " tag " + rc.Tag
		}
		l = append(l, s)
	}
	slices.Sort(l)
	return l
}

func wantResolved(t *testing.T, ctx context.Context, d directory.Directory, addr string, want ...string) {
	t.Helper()
	if got := resolved(t, ctx, d, addr); !slices.Equal(got, want) {
		t.Fatalf("Resolve(%q) = %q, want %q", addr, got, want)
	}
}

func testResolvePlain(t *testing.T, ctx context.Context, d directory.Directory) {
	addDomain(t, ctx, d, "example.com")
	a := addAccount(t, ctx, d, "user@example.com")
	r, err := d.Resolve(ctx, "user@example.com")
	must(t, err)
	if len(r) != 1 || r[0].Account.ID != a.ID || r[0].Tag != "" {
		t.Fatalf("Resolve = %+v", r)
	}
	wantResolved(t, ctx, d, "USER@Example.Com", "user@example.com")
	_, err = d.Resolve(ctx, "nobody@example.com")
	wantErr(t, err, directory.ErrNoSuchUser, "unknown user in a local domain")
	_, err = d.Resolve(ctx, "user@elsewhere.example")
	wantErr(t, err, directory.ErrNotLocal, "remote domain")
	_, err = d.Resolve(ctx, "not an address")
	wantErr(t, err, directory.ErrInvalid, "malformed address")
}

func testResolveSubaddress(t *testing.T, ctx context.Context, d directory.Directory) {
	addDomain(t, ctx, d, "example.com")
	addAccount(t, ctx, d, "user@example.com")
	addAccount(t, ctx, d, "user+exact@example.com")
	wantResolved(t, ctx, d, "user+Lists@example.com", "user@example.com tag lists")
	wantResolved(t, ctx, d, "user+a+b@example.com", "user@example.com tag a+b")
	// An account whose address contains '+' wins over subaddressing.
	wantResolved(t, ctx, d, "user+exact@example.com", "user+exact@example.com")
	wantResolved(t, ctx, d, "user+@example.com", "user@example.com")
	// So does an alias whose address contains '+'.
	addAccount(t, ctx, d, "lists@example.com")
	must(t, d.AddAlias(ctx, "user+lists@example.com", []string{"lists@example.com"}))
	wantResolved(t, ctx, d, "user+lists@example.com", "lists@example.com")
	_, err := d.Resolve(ctx, "nobody+tag@example.com")
	wantErr(t, err, directory.ErrNoSuchUser, "subaddress of an unknown user")
}

func testResolveAlias(t *testing.T, ctx context.Context, d directory.Directory) {
	addDomain(t, ctx, d, "example.com")
	addDomain(t, ctx, d, "other.example")
	addAccount(t, ctx, d, "a@example.com")
	addAccount(t, ctx, d, "b@other.example")
	must(t, d.AddAlias(ctx, "team@example.com", []string{"a@example.com", "b@other.example"}))
	wantResolved(t, ctx, d, "Team@example.com", "a@example.com", "b@other.example")
	wantResolved(t, ctx, d, "team+news@example.com", "a@example.com tag news", "b@other.example tag news")
}

func testAliasForwards(t *testing.T, ctx context.Context, d directory.Directory) {
	addDomain(t, ctx, d, "example.com")
	addAccount(t, ctx, d, "a@example.com")
	must(t, d.AddAlias(ctx, "out@example.com", []string{"Friend@Outside.example"}))
	must(t, d.AddAlias(ctx, "both@example.com", []string{"a@example.com", "x@outside.example"}))
	wantResolved(t, ctx, d, "out@example.com", "forward friend@outside.example")
	wantResolved(t, ctx, d, "out+tag@example.com", "forward friend@outside.example")
	wantResolved(t, ctx, d, "both@example.com", "a@example.com", "forward x@outside.example")

	err := d.AddAlias(ctx, "ghost@example.com", []string{"nobody@example.com"})
	wantErr(t, err, directory.ErrNotFound, "alias to a local address that is not an account")
	err = d.AddAlias(ctx, "bad@example.com", []string{"not an address"})
	wantErr(t, err, directory.ErrInvalid, "alias to a malformed outside address")
	_, err = d.AddAccount(ctx, "out@example.com", "pw-out-1234567", 0, "")
	wantErr(t, err, directory.ErrExists, "account where an outside-only alias is")
	err = d.AddAlias(ctx, "out@example.com", []string{"a@example.com"})
	wantErr(t, err, directory.ErrExists, "alias added twice")

	l, err := d.Aliases(ctx, "example.com")
	must(t, err)
	if len(l) != 2 || l[0].Address != "both@example.com" || !slices.Equal(l[0].Targets, []string{"a@example.com", "x@outside.example"}) ||
		l[1].Address != "out@example.com" || !slices.Equal(l[1].Targets, []string{"friend@outside.example"}) {
		t.Fatalf("Aliases = %+v", l)
	}
	wantErr(t, d.RemoveDomain(ctx, "example.com"), directory.ErrInUse, "removing a domain with aliases")
	must(t, d.RemoveAlias(ctx, "out@example.com"))
	_, err = d.Resolve(ctx, "out@example.com")
	wantErr(t, err, directory.ErrNoSuchUser, "resolving a removed alias")
	must(t, d.RemoveAlias(ctx, "both@example.com"))
	_, err = d.RemoveAccount(ctx, "a@example.com")
	must(t, err)
	must(t, d.RemoveDomain(ctx, "example.com"))
}

func testResolveCatchAll(t *testing.T, ctx context.Context, d directory.Directory) {
	addDomain(t, ctx, d, "example.com")
	addDomain(t, ctx, d, "other.example")
	addAccount(t, ctx, d, "user@example.com")
	addAccount(t, ctx, d, "postmaster@other.example")
	wantErr(t, d.SetCatchAll(ctx, "example.com", "nobody@example.com"), directory.ErrNotFound, "catch-all to an unknown account")
	wantErr(t, d.SetCatchAll(ctx, "unknown.example", "user@example.com"), directory.ErrNotFound, "catch-all of an unknown domain")
	must(t, d.SetCatchAll(ctx, "Example.com", "postmaster@other.example"))

	l, err := d.Domains(ctx)
	must(t, err)
	if l[0].Name != "example.com" || l[0].CatchAll != "postmaster@other.example" || l[1].CatchAll != "" {
		t.Fatalf("Domains = %+v", l)
	}
	wantResolved(t, ctx, d, "anything@example.com", "postmaster@other.example")
	wantResolved(t, ctx, d, "user@example.com", "user@example.com")
	wantResolved(t, ctx, d, "user+tag@example.com", "user@example.com tag tag")
	_, err = d.Resolve(ctx, "anything@other.example")
	wantErr(t, err, directory.ErrNoSuchUser, "unknown user in a domain without catch-all")

	must(t, d.SetCatchAll(ctx, "example.com", ""))
	_, err = d.Resolve(ctx, "anything@example.com")
	wantErr(t, err, directory.ErrNoSuchUser, "after removing the catch-all")
}

func testRemoveAccountCleansUp(t *testing.T, ctx context.Context, d directory.Directory) {
	addDomain(t, ctx, d, "example.com")
	addAccount(t, ctx, d, "a@example.com")
	addAccount(t, ctx, d, "b@example.com")
	must(t, d.AddAlias(ctx, "both@example.com", []string{"a@example.com", "b@example.com"}))
	must(t, d.AddAlias(ctx, "only-b@example.com", []string{"b@example.com"}))
	must(t, d.SetCatchAll(ctx, "example.com", "b@example.com"))

	_, err := d.RemoveAccount(ctx, "b@example.com")
	must(t, err)
	wantResolved(t, ctx, d, "both@example.com", "a@example.com")
	_, err = d.Resolve(ctx, "only-b@example.com")
	wantErr(t, err, directory.ErrNoSuchUser, "alias whose only target was removed")
	_, err = d.Resolve(ctx, "anyone@example.com")
	wantErr(t, err, directory.ErrNoSuchUser, "catch-all whose account was removed")
	l, err := d.Aliases(ctx, "example.com")
	must(t, err)
	if len(l) != 1 || l[0].Address != "both@example.com" {
		t.Fatalf("Aliases after removing an account = %+v", l)
	}
	// The freed address can be taken again.
	must(t, d.AddAlias(ctx, "only-b@example.com", []string{"a@example.com"}))
}

func testAuthenticate(t *testing.T, ctx context.Context, d directory.Directory) {
	addDomain(t, ctx, d, "example.com")
	addAccount(t, ctx, d, "other@example.com")
	a, err := d.AddAccount(ctx, "user@example.com", "correct horse", 0, "")
	must(t, err)
	must(t, d.AddAlias(ctx, "alias@example.com", []string{"user@example.com"}))

	got, err := d.Authenticate(ctx, "User@Example.com", "correct horse")
	must(t, err)
	if got.ID != a.ID || got.Address != "user@example.com" {
		t.Fatalf("Authenticate = %+v, want %+v", got, a)
	}
	for _, tc := range []struct{ addr, pw, what string }{
		{"user@example.com", "Correct horse", "wrong password"},
		{"user@example.com", "", "empty password"},
		{"nobody@example.com", "correct horse", "unknown address"},
		{"user@elsewhere.example", "correct horse", "remote domain"},
		{"not an address", "correct horse", "malformed address"},
		{"alias@example.com", "correct horse", "alias address"},
		{"user+tag@example.com", "correct horse", "subaddress"},
		{"other@example.com", "correct horse", "another account's password"},
	} {
		_, err := d.Authenticate(ctx, tc.addr, tc.pw)
		wantErr(t, err, directory.ErrBadCredentials, tc.what)
	}
}

func testInvalidInput(t *testing.T, ctx context.Context, d directory.Directory) {
	_, err := d.AddDomain(ctx, "bad domain")
	wantErr(t, err, directory.ErrInvalid, "AddDomain with a space")
	_, err = d.AddDomain(ctx, "")
	wantErr(t, err, directory.ErrInvalid, "AddDomain empty")
	addDomain(t, ctx, d, "example.com")
	_, err = d.AddAccount(ctx, "us\x00er@example.com", "pw", 0, "")
	wantErr(t, err, directory.ErrInvalid, "AddAccount with NUL")
	_, err = d.AddAccount(ctx, "@example.com", "pw", 0, "")
	wantErr(t, err, directory.ErrInvalid, "AddAccount with empty local part")
	_, err = d.AddAccount(ctx, "user@example.com", "", 0, "")
	wantErr(t, err, directory.ErrInvalid, "AddAccount with empty password")
	err = d.AddAlias(ctx, "x@example.com", []string{"bad target"})
	wantErr(t, err, directory.ErrInvalid, "AddAlias with a malformed target")
}

func testCells(t *testing.T, ctx context.Context, d directory.Directory) {
	addDomain(t, ctx, d, "example.com")
	counts, err := d.CellCounts(ctx)
	must(t, err)
	if len(counts) != 0 {
		t.Fatalf("CellCounts of an empty directory = %v", counts)
	}
	a, err := d.AddAccount(ctx, "a@example.com", "pw", 0, "cell-1")
	must(t, err)
	if a.Cell != "cell-1" {
		t.Fatalf("AddAccount returned cell %q, want cell-1", a.Cell)
	}
	_, err = d.AddAccount(ctx, "b@example.com", "pw", 0, "cell-1")
	must(t, err)
	_, err = d.AddAccount(ctx, "c@example.com", "pw", 0, "cell-2")
	must(t, err)
	embedded := addAccount(t, ctx, d, "d@example.com")
	if embedded.Cell != "" {
		t.Fatalf("AddAccount without a cell returned cell %q", embedded.Cell)
	}
	_, err = d.AddAccount(ctx, "e@example.com", "pw", 0, "bad cell")
	wantErr(t, err, directory.ErrInvalid, "AddAccount with a malformed cell")

	wantCounts := func(want map[string]int) {
		t.Helper()
		got, err := d.CellCounts(ctx)
		must(t, err)
		if !maps.Equal(got, want) {
			t.Fatalf("CellCounts = %v, want %v", got, want)
		}
	}
	wantCounts(map[string]int{"cell-1": 2, "cell-2": 1, "": 1})

	// Every way of reading an account returns its cell.
	wantCell := func(what string, got directory.Account, want string) {
		t.Helper()
		if got.Cell != want {
			t.Fatalf("%s: cell %q, want %q", what, got.Cell, want)
		}
	}
	got, err := d.Account(ctx, "A@example.com")
	must(t, err)
	wantCell("Account", got, "cell-1")
	got, err = d.AccountByID(ctx, a.ID)
	must(t, err)
	wantCell("AccountByID", got, "cell-1")
	l, err := d.Accounts(ctx, "")
	must(t, err)
	wantCell("Accounts", l[2], "cell-2")
	got, err = d.Authenticate(ctx, "a@example.com", "pw")
	must(t, err)
	wantCell("Authenticate", got, "cell-1")
	must(t, d.AddAlias(ctx, "team@example.com", []string{"a@example.com"}))
	r, err := d.Resolve(ctx, "team+x@example.com")
	must(t, err)
	wantCell("Resolve of an alias", r[0].Account, "cell-1")

	must(t, d.SetCell(ctx, "A@Example.com", "cell-2"))
	r, err = d.Resolve(ctx, "a@example.com")
	must(t, err)
	wantCell("Resolve after SetCell", r[0].Account, "cell-2")
	wantCounts(map[string]int{"cell-1": 1, "cell-2": 2, "": 1})
	must(t, d.SetCell(ctx, "d@example.com", "cell-1"))
	wantCounts(map[string]int{"cell-1": 2, "cell-2": 2})
	wantErr(t, d.SetCell(ctx, "nobody@example.com", "cell-1"), directory.ErrNotFound, "SetCell of an unknown account")
	wantErr(t, d.SetCell(ctx, "a@example.com", "cell/2"), directory.ErrInvalid, "SetCell with a malformed cell")

	_, err = d.RemoveAccount(ctx, "c@example.com")
	must(t, err)
	wantCounts(map[string]int{"cell-1": 2, "cell-2": 1})
}

// BenchResolve measures Resolve on d, an empty directory, along the paths
// RCPT TO takes: an account's own address, a subaddress, an alias and an
// unknown address (spam to guessed names is much of an MX's traffic).
func BenchResolve(b *testing.B, d directory.Directory) {
	ctx := b.Context()
	if _, err := d.AddDomain(ctx, "example.com"); err != nil {
		b.Fatal(err)
	}
	const accounts = 20
	for i := range accounts {
		addr := fmt.Sprintf("user%d@example.com", i)
		if _, err := d.AddAccount(ctx, addr, "pw", 0, ""); err != nil {
			b.Fatal(err)
		}
		if err := d.AddAlias(ctx, fmt.Sprintf("alias%d@example.com", i), []string{addr}); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name, format string
		want         error
	}{
		{"Account", "user%d@example.com", nil},
		{"Subaddress", "user%d+tag@example.com", nil},
		{"Alias", "alias%d@example.com", nil},
		{"Unknown", "nobody%d@example.com", directory.ErrNoSuchUser},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if _, err := d.Resolve(ctx, fmt.Sprintf(bc.format, i%accounts)); !errors.Is(err, bc.want) {
					b.Fatalf("Resolve: %v, want %v", err, bc.want)
				}
			}
		})
	}
}

func testLocks(t *testing.T, ctx context.Context, d directory.Directory) {
	addDomain(t, ctx, d, "example.com")
	addAccount(t, ctx, d, "user@example.com")
	if _, locked, err := d.AccountLock(ctx, "user@example.com"); err != nil || locked {
		t.Fatalf("AccountLock of a new account = %v, %v; want not locked", locked, err)
	}
	now := time.Now().Truncate(time.Second)
	want := directory.Lock{Since: now, Until: now.Add(time.Hour), Failures: 20, From: "192.0.2.7"}
	must(t, d.LockAccount(ctx, "User@example.com", want))
	// Guesses at names that are no account leave nothing behind.
	must(t, d.LockAccount(ctx, "nobody@example.com", want))
	must(t, d.LockAccount(ctx, "not an address", want))
	got, locked, err := d.AccountLock(ctx, "user@example.com")
	must(t, err)
	if !locked || !got.Since.Equal(want.Since) || !got.Until.Equal(want.Until) || got.Failures != want.Failures || got.From != want.From {
		t.Fatalf("AccountLock = %+v, %v; want %+v", got, locked, want)
	}
	if _, locked, _ := d.AccountLock(ctx, "nobody@example.com"); locked {
		t.Fatal("a name that is no account is locked")
	}
	held, err := d.UnlockAccount(ctx, "user@example.com")
	must(t, err)
	if !held {
		t.Fatal("UnlockAccount reports no lock held")
	}
	if _, locked, _ := d.AccountLock(ctx, "user@example.com"); locked {
		t.Fatal("account still locked after UnlockAccount")
	}
	// An expired lock no longer holds.
	must(t, d.LockAccount(ctx, "user@example.com", directory.Lock{Since: now.Add(-2 * time.Hour), Until: now.Add(-time.Hour)}))
	if _, locked, _ := d.AccountLock(ctx, "user@example.com"); locked {
		t.Fatal("expired lock holds")
	}
	held, err = d.UnlockAccount(ctx, "user@example.com")
	must(t, err)
	if held {
		t.Fatal("UnlockAccount reports an expired lock as held")
	}
	_, err = d.UnlockAccount(ctx, "nobody@example.com")
	wantErr(t, err, directory.ErrNotFound, "UnlockAccount of no account")
}
