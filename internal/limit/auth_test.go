package limit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"casella/internal/directory/sqlitedir"
)

func addr(s string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(s), Port: 40000} }

// slowAuth has waits of an hour past the free failures: an attempt is
// either admitted at once or refused as throttled, so the tests count
// guesses without timing anything.
func slowAuth() *Auth {
	return NewAuth(AuthOptions{Free: 3, Base: time.Hour, Max: time.Hour, MaxWait: time.Minute, LockAfter: 1000})
}

// guess makes one login attempt and fails it; it reports whether the
// password would have been checked.
func guess(t *testing.T, a *Auth, account string, remote net.Addr) bool {
	t.Helper()
	at, err := a.Admit(context.Background(), "test", account, remote)
	if errors.Is(err, ErrThrottled) || errors.Is(err, ErrLocked) {
		return false
	}
	if err != nil {
		t.Fatalf("Admit: %v", err)
	}
	at.Failed()
	return true
}

func login(t *testing.T, a *Auth, account string, remote net.Addr) {
	t.Helper()
	at, err := a.Admit(context.Background(), "test", account, remote)
	if err != nil {
		t.Fatalf("Admit of a good login: %v", err)
	}
	at.Succeeded()
}

// The first bypass: a guesser who owns an account logged in to it
// between guesses at another, and each success wiped his failures (48
// guesses in 19 s).
func TestAuthSuccessDoesNotClearOthersFailures(t *testing.T) {
	a := slowAuth()
	from := addr("192.0.2.7")
	checked := 0
	for range 16 {
		login(t, a, "mine@example.com", from)
		for range 3 {
			if guess(t, a, "victim@example.com", from) {
				checked++
			}
		}
	}
	if checked != a.opts.Free {
		t.Fatalf("%d guesses checked with logins between them, want %d", checked, a.opts.Free)
	}
}

// The second bypass: 45 parallel connections gave 45 guesses where one
// connection got 11. Each comes from another network here, so only the
// account's own record can hold them.
func TestAuthParallelGainsNothing(t *testing.T) {
	a := slowAuth()
	var checked atomic.Int32
	var wg sync.WaitGroup
	for i := range 45 {
		wg.Go(func() {
			at, err := a.Admit(context.Background(), "test", "victim@example.com", addr(fmt.Sprintf("198.51.%d.1", i)))
			if err != nil {
				return
			}
			checked.Add(1)
			at.Failed()
		})
	}
	wg.Wait()
	if got := int(checked.Load()); got != a.opts.Free {
		t.Fatalf("45 parallel connections had %d guesses checked, want %d as one connection", got, a.opts.Free)
	}
}

func TestAuthAddressAndNetwork(t *testing.T) {
	a := slowAuth()
	// One address guessing a new account each time.
	checked := 0
	for i := range 10 {
		if guess(t, a, fmt.Sprintf("u%d@example.com", i), addr("192.0.2.7")) {
			checked++
		}
	}
	if checked != a.opts.Free {
		t.Fatalf("one address had %d guesses at different accounts, want %d", checked, a.opts.Free)
	}
	// Its neighbours share the /24's allowance, larger than an address's.
	checked = 0
	for i := range 100 {
		if guess(t, a, fmt.Sprintf("v%d@example.com", i), addr(fmt.Sprintf("203.0.113.%d", i))) {
			checked++
		}
	}
	if checked != a.opts.NetworkFree {
		t.Fatalf("a /24 had %d guesses, want %d", checked, a.opts.NetworkFree)
	}
	// IPv6 addresses of one /64 are one network.
	n1, n2 := network(ipOf(addr("2001:db8:1:2::1"))), network(ipOf(addr("2001:db8:1:2:ffff::9")))
	if n1 != n2 || n1 != "2001:db8:1:2::/64" {
		t.Fatalf("networks %q, %q; want both 2001:db8:1:2::/64", n1, n2)
	}
}

func TestAuthWaitComesBeforeCheck(t *testing.T) {
	a := NewAuth(AuthOptions{Free: 1, Base: 50 * time.Millisecond, Max: 50 * time.Millisecond})
	from := addr("192.0.2.7")
	guess(t, a, "user@example.com", from)
	// The next attempt is held, then admitted: a good password after a
	// wait is checked, never refused for the wait.
	at, err := a.Admit(context.Background(), "test", "user@example.com", from)
	if err != nil {
		t.Fatalf("Admit after a wait: %v", err)
	}
	at.Succeeded()
	// A cancelled wait gives up without a check. The wait is long, so that
	// it cannot have run out on a loaded machine before the attempt.
	b := NewAuth(AuthOptions{Free: 1, Base: 10 * time.Second, Max: 10 * time.Second})
	guess(t, b, "user@example.com", addr("192.0.2.8"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Admit(ctx, "test", "user@example.com", addr("192.0.2.8")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Admit with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestAuthLockAndUnlock(t *testing.T) {
	ctx := context.Background()
	dir, err := sqlitedir.Open(filepath.Join(t.TempDir(), "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	if _, err := dir.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddAccount(ctx, "user@example.com", "pw", 0, ""); err != nil {
		t.Fatal(err)
	}
	var refusals sync.Map
	a := NewAuth(AuthOptions{Free: 100, NetworkFree: 100, LockAfter: 5, Locks: dir, Refused: func(p, r string) {
		n, _ := refusals.LoadOrStore(p+"/"+r, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
	}})
	owner := addr("192.0.2.1")
	login(t, a, "user@example.com", owner)
	for i := range 5 {
		if !guess(t, a, "user@example.com", addr(fmt.Sprintf("198.51.100.%d", i+10))) {
			t.Fatalf("guess %d refused before the lock", i)
		}
	}
	if guess(t, a, "user@example.com", addr("203.0.113.1")) {
		t.Fatal("guess checked on a locked account")
	}
	if _, err := a.Admit(ctx, "test", "user@example.com", addr("203.0.113.1")); !errors.Is(err, ErrLocked) {
		t.Fatalf("Admit on a locked account = %v, want ErrLocked", err)
	}
	l, locked, err := dir.AccountLock(ctx, "user@example.com")
	if err != nil || !locked || l.Failures != 5 {
		t.Fatalf("directory lock = %+v, %v, %v; want 5 failures", l, locked, err)
	}
	// The owner's usual address still gets in.
	login(t, a, "user@example.com", owner)

	// The admin lifts the lock in the directory, as the CLI does.
	if _, err := dir.UnlockAccount(ctx, "user@example.com"); err != nil {
		t.Fatal(err)
	}
	if !guess(t, a, "user@example.com", addr("203.0.113.1")) {
		t.Fatal("attempt refused after unlock")
	}
	for _, k := range []string{"test/auth_failed", "test/auth_locked"} {
		if n, ok := refusals.Load(k); !ok || n.(*atomic.Int32).Load() == 0 {
			t.Errorf("no refusal counted as %s", k)
		}
	}
}

// Attempts that end in any order leave no reservation behind: a success
// of a pair while another attempt of it is under way, then that attempt's
// failure, must not leave a negative count that shortens later waits.
func TestAuthConcurrentOutcomes(t *testing.T) {
	a := slowAuth()
	from := addr("192.0.2.7")
	first, err := a.Admit(context.Background(), "test", "user@example.com", from)
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.Admit(context.Background(), "test", "user@example.com", from)
	if err != nil {
		t.Fatal(err)
	}
	first.Succeeded()
	second.Failed()
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, e := range a.keys {
		if e.pending != 0 {
			t.Errorf("key %q has %d attempts pending after all ended", k, e.pending)
		}
	}
}

// Many people behind one address (carrier NAT, an office) logging in for
// the first time at one moment are all checked at once: only failures
// slow an address down (issue 18 item 12).
func TestSharedAddressFirstLogins(t *testing.T) {
	a := NewAuth(AuthOptions{})
	from := addr("198.51.100.77")
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			at, err := a.Admit(context.Background(), "test", fmt.Sprintf("user%d@example.com", i), from)
			if err != nil {
				errs <- err
				return
			}
			at.Succeeded()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a first login from a shared address: %v", err)
	}
}
