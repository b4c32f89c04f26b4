package limit

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"casella/internal/directory"
)

// Auth defends password logins against guessing; one Auth serves every
// protocol of a node (SMTP AUTH, IMAP, POP3, and HTTP and ManageSieve as
// they come), so a guesser gains nothing by switching protocol.
//
// Failures are counted per account, per client address and per network
// (the /24 of an IPv4 address, the /64 of an IPv6 one). Every attempt
// waits, before its password is checked, until each of its keys allows the
// next attempt; the wait grows with the key's failures, and attempts that
// come together queue behind one another, so parallel connections guess no
// faster than one. A success clears only the failures of its own
// account+address pair: a guesser who also owns an account cannot wipe the
// record of his guesses by logging in to it.
//
// An attempt that would wait longer than MaxWait is answered a temporary
// failure at once, without its password being checked, so no client
// waits past its own timeout and the answer tells a guesser nothing. An
// account with LockAfter failures is locked for LockFor: the lock goes to
// the directory, where "casella account show" sees it and "casella
// account unlock" lifts it.
//
// A pair that logged in before (the owner's usual device) is judged only
// by its own failures, so an attack on an account or from a shared
// network does not lock its owner out.
type Auth struct {
	opts AuthOptions

	mu    sync.Mutex
	keys  map[string]*entry
	known map[string]time.Time // account+address pairs that logged in, and when
	swept time.Time            // when sweep last ran
}

// AuthOptions configure an Auth; zero fields take the defaults in
// NewAuth's comment.
type AuthOptions struct {
	Free        int           // failures of an account or address before waits start
	NetworkFree int           // failures of a network before waits start
	Base        time.Duration // the first wait; each further failure doubles it
	Max         time.Duration // the longest wait for one key
	MaxWait     time.Duration // the longest an attempt is held before its check
	LockAfter   int           // an account's failures that lock it
	LockFor     time.Duration // how long a lock holds
	Forget      time.Duration // failures are forgotten after this long without one
	Known       time.Duration // how long a successful pair is remembered
	// Locks keeps account locks where the admin CLI and other nodes see
	// them; nil keeps them in this process only.
	Locks Locks
	// Logger receives failed and refused logins.
	Logger *slog.Logger
	// Refused, when set, is told of every refused login, by protocol and
	// reason ("auth_failed", "auth_throttled", "auth_locked").
	Refused func(protocol, reason string)
}

// Locks is where account locks are kept; directory.Directory implements it.
type Locks interface {
	LockAccount(ctx context.Context, address string, l directory.Lock) error
	AccountLock(ctx context.Context, address string) (directory.Lock, bool, error)
}

// Errors of Admit: the caller answers a temporary failure without
// checking the password.
var (
	ErrThrottled = errors.New("too many failed logins, try again later")
	ErrLocked    = errors.New("account locked after too many failed logins")
)

// entry is the record of one key.
type entry struct {
	failures int
	last     time.Time // of the last failure
	next     time.Time // earliest check of the next attempt
	pending  int       // attempts admitted and not finished
	locked   time.Time // accounts only: locked until then
}

// lockTimeout bounds each call to Locks: the directory being slow must
// not hold logins.
const lockTimeout = 2 * time.Second

// NewAuth returns an Auth with opts, whose zero fields take the defaults:
// 3 free failures per account or address and 30 per network, then waits
// from 1 s doubling up to 15 s, at most 20 s in all before a check; 20
// failures lock an account for 15 minutes; failures are forgotten after 15
// minutes, successful pairs after 30 days.
func NewAuth(opts AuthOptions) *Auth {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&opts.Free, 3)
	def(&opts.NetworkFree, 30)
	def(&opts.LockAfter, 20)
	defd(&opts.Base, time.Second)
	defd(&opts.Max, 15*time.Second)
	defd(&opts.MaxWait, 20*time.Second)
	defd(&opts.LockFor, 15*time.Minute)
	defd(&opts.Forget, 15*time.Minute)
	defd(&opts.Known, 30*24*time.Hour)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Auth{opts: opts, keys: map[string]*entry{}, known: map[string]time.Time{}}
}

// Attempt is one admitted login; the caller reports how its check went
// with exactly one of Failed, Succeeded or Unchecked.
type Attempt struct {
	a        *Auth
	protocol string
	account  string
	addr     string
	pair     string
	keys     []string // the keys whose waits the attempt obeyed
	known    bool
}

// Admit waits until a login to account from remote may be checked. It
// returns ErrThrottled or ErrLocked when it may not be checked now, or
// ctx's error if ctx ends first.
func (a *Auth) Admit(ctx context.Context, protocol, account string, remote net.Addr) (*Attempt, error) {
	ip := ipOf(remote)
	at := &Attempt{a: a, protocol: protocol, account: canonical(account), addr: ip.String()}
	at.pair = "p:" + at.account + "\x00" + at.addr
	acctKey := "a:" + at.account

	now := time.Now()
	a.mu.Lock()
	a.sweep(now)
	_, at.known = a.known[at.pair]
	switch {
	case at.known:
		at.keys = []string{at.pair}
	case len(a.keys) >= maxKeys:
		at.keys = []string{acctKey, "n:" + network(ip)}
		if _, ok := a.keys[at.pair]; ok {
			at.keys = append(at.keys, at.pair)
		}
		if _, ok := a.keys["i:"+at.addr]; ok {
			at.keys = append(at.keys, "i:"+at.addr)
		}
	default:
		at.keys = []string{at.pair, acctKey, "i:" + at.addr, "n:" + network(ip)}
	}
	memLocked := !at.known && a.entry(acctKey).locked.After(now)
	a.mu.Unlock()

	if !at.known {
		locked, err := a.checkLock(ctx, at.account, acctKey, memLocked)
		if err != nil {
			return nil, err
		}
		if locked {
			a.refuse(at, "auth_locked", ErrLocked)
			return nil, ErrLocked
		}
	}

	a.mu.Lock()
	now = time.Now()
	slot := now
	for _, k := range at.keys {
		e := a.entry(k)
		if e.pending == 0 && now.Sub(e.last) > a.opts.Forget {
			e.failures = 0
		}
		if e.next.After(slot) {
			slot = e.next
		}
	}
	if slot.Sub(now) > a.opts.MaxWait {
		a.mu.Unlock()
		a.refuse(at, "auth_throttled", ErrThrottled)
		return nil, ErrThrottled
	}
	// Reserve the slot as if this attempt will fail: the next one on the
	// account or the pair comes one wait after it, so parallel guesses at
	// one account gain nothing. An address or a network is many people at
	// once (carrier NAT, an office): its waits grow with its failures
	// only, so that many first logins from it at one moment are not held
	// back as if each had failed.
	for _, k := range at.keys {
		e := a.entry(k)
		e.pending++
		if !shared(k) {
			e.next = slot.Add(a.wait(k, e.failures+e.pending))
		} else if w := a.wait(k, e.failures+1); w > 0 {
			e.next = slot.Add(w)
		}
	}
	a.mu.Unlock()

	if d := time.Until(slot); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			at.Unchecked()
			return nil, ctx.Err()
		}
	}
	return at, nil
}

// checkLock tells whether the account is locked. The directory's word
// wins: it carries the admin's unlock and other nodes' locks. Without an
// answer from it the memory of this node decides.
func (a *Auth) checkLock(ctx context.Context, account, key string, memLocked bool) (bool, error) {
	if a.opts.Locks == nil {
		return memLocked, nil
	}
	lctx, cancel := context.WithTimeout(ctx, lockTimeout)
	defer cancel()
	l, locked, err := a.opts.Locks.AccountLock(lctx, account)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		a.opts.Logger.Warn("reading account lock; using this node's memory", "account", account, "err", err)
		return memLocked, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.entry(key)
	switch {
	case locked:
		e.locked = l.Until
	case memLocked:
		// Unlocked by the admin: start afresh. Attempts under way keep
		// their reservations.
		e.failures, e.locked, e.next = 0, time.Time{}, time.Time{}
	}
	return locked, nil
}

// Failed records that the attempt's password was wrong.
func (at *Attempt) Failed() {
	a := at.a
	now := time.Now()
	var lock *directory.Lock
	failures := 0 // the most of any key of the attempt, for the log
	a.mu.Lock()
	for _, k := range at.keys {
		e := a.entry(k)
		e.pending--
		e.failures++
		e.last = now
		failures = max(failures, e.failures)
	}
	if at.known {
		// The owner's device mistyping is judged by the pair alone,
		// until it fails as often as would lock the account.
		if a.entry(at.pair).failures >= a.opts.LockAfter {
			delete(a.known, at.pair)
		}
	} else if e := a.entry("a:" + at.account); e.failures >= a.opts.LockAfter {
		lock = &directory.Lock{Since: now, Until: now.Add(a.opts.LockFor), Failures: e.failures, From: at.addr}
		e.locked = lock.Until
		e.failures = 0
	}
	a.mu.Unlock()

	a.opts.Logger.Info("login failed", "protocol", at.protocol, "account", at.account, "remote", at.addr, "failures", failures)
	a.refused(at.protocol, "auth_failed")
	if lock == nil {
		return
	}
	a.opts.Logger.Warn("account locked after failed logins", "account", at.account, "remote", at.addr, "failures", lock.Failures, "until", lock.Until)
	if a.opts.Locks != nil {
		ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
		defer cancel()
		if err := a.opts.Locks.LockAccount(ctx, at.account, *lock); err != nil {
			a.opts.Logger.Warn("recording account lock; it holds on this node only", "account", at.account, "err", err)
		}
	}
}

// Succeeded records a good password: the pair's failures are cleared and
// the pair is known from now on. The account's and the address's failures
// stay: they may be someone else's.
func (at *Attempt) Succeeded() {
	a := at.a
	a.mu.Lock()
	defer a.mu.Unlock()
	at.release()
	if e := a.keys[at.pair]; e != nil {
		// Attempts of the pair under way keep their reservations.
		if e.pending == 0 {
			delete(a.keys, at.pair)
		} else {
			e.failures, e.next = 0, time.Time{}
		}
	}
	if _, ok := a.known[at.pair]; ok || len(a.known) < maxKnown {
		a.known[at.pair] = time.Now()
	}
}

// Unchecked records that the password could not be checked (the directory
// failed): the attempt counts for nothing.
func (at *Attempt) Unchecked() {
	at.a.mu.Lock()
	defer at.a.mu.Unlock()
	at.release()
}

// release ends the attempt's reservation; a.mu must be held.
func (at *Attempt) release() {
	for _, k := range at.keys {
		at.a.entry(k).pending--
	}
}

// Lock reports the lock this node holds on account, if any.
func (a *Auth) Lock(account string) (until time.Time, locked bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.keys["a:"+canonical(account)]
	if e == nil || !e.locked.After(time.Now()) {
		return time.Time{}, false
	}
	return e.locked, true
}

// shared reports whether key is an address's or a network's, which many
// people may log in from.
func shared(key string) bool { return strings.HasPrefix(key, "i:") || strings.HasPrefix(key, "n:") }

// wait returns how long key waits after n failures.
func (a *Auth) wait(key string, n int) time.Duration {
	free := a.opts.Free
	if strings.HasPrefix(key, "n:") {
		free = a.opts.NetworkFree
	}
	n -= free
	if n < 0 {
		return 0
	}
	d := a.opts.Base
	for i := 0; i < n && d < a.opts.Max; i++ {
		d *= 2
	}
	return min(d, a.opts.Max)
}

// entry returns key's entry, making it; a.mu must be held.
func (a *Auth) entry(key string) *entry {
	e := a.keys[key]
	if e == nil {
		e = &entry{}
		a.keys[key] = e
	}
	return e
}

func (a *Auth) refuse(at *Attempt, reason string, err error) {
	a.opts.Logger.Info("login refused", "protocol", at.protocol, "account", at.account, "remote", at.addr, "reason", err.Error())
	a.refused(at.protocol, reason)
}

func (a *Auth) refused(protocol, reason string) {
	if a.opts.Refused != nil {
		a.opts.Refused(protocol, reason)
	}
}

// Memory bounds. Past sweepAt entries, sweep drops forgotten ones, at
// most once per sweepEvery so that an attack does not make every attempt
// scan the map. Past maxKeys, an attempt from a new address is judged by
// its account and network only, and past maxKnown no new pair is
// remembered: an attack spread over millions of addresses costs a bounded
// amount of memory (about 150 bytes an entry) and gains nothing on the
// accounts it aims at.
const (
	sweepAt    = 4096
	sweepEvery = time.Minute
	maxKeys    = 1 << 20
	maxKnown   = 1 << 20
)

// sweep drops forgotten state; a.mu must be held.
func (a *Auth) sweep(now time.Time) {
	if len(a.keys) < sweepAt && len(a.known) < sweepAt || now.Sub(a.swept) < sweepEvery {
		return
	}
	a.swept = now
	for k, e := range a.keys {
		if e.pending == 0 && now.Sub(e.last) > a.opts.Forget && now.After(e.next) && !e.locked.After(now) {
			delete(a.keys, k)
		}
	}
	for k, t := range a.known {
		if now.Sub(t) > a.opts.Known {
			delete(a.known, k)
		}
	}
}

// canonical is the account name failures are counted under: the
// directory's canonical address, or the name lower-cased when it is none.
func canonical(account string) string {
	if c, err := directory.Canonical(account); err == nil {
		return c
	}
	return strings.ToLower(account)
}

// ipOf returns the IP address of a remote address.
func ipOf(addr net.Addr) netip.Addr {
	if ta, ok := addr.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// network returns the /24 of an IPv4 address or the /64 of an IPv6 one:
// what one customer or one host usually holds.
func network(ip netip.Addr) string {
	bits := 24
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return ip.String()
	}
	return p.String()
}
