package delivery

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"casella/internal/directory"
	"casella/internal/sieve"
	"casella/internal/spool"
	"casella/internal/store"
)

// Scripts is what the delivery reads of the users' Sieve scripts;
// directory.SieveScripts implements it.
type Scripts interface {
	ActiveSieveScript(ctx context.Context, acct store.Account) (name, source string, err error)
	SieveScript(ctx context.Context, acct store.Account, name string) (directory.SieveScript, string, error)
}

// scriptTTL is how long an account's active script is used before it is
// read again: a script changed over ManageSieve filters within that time.
const scriptTTL = 30 * time.Second

// Filters gives each account's compiled active Sieve script. A script is
// compiled once per source, not per message; while the directory cannot be
// read, the script last read is used, and without one mail is kept in
// INBOX rather than held back (DESIGN.md: a directory outage freezes
// administration, not mail).
type Filters struct {
	Scripts Scripts
	Logger  *slog.Logger
	// Memory keeps the vacation replies sent and the ids duplicate
	// tracked (vacation.go, duplicate.go); nil: vacation sends nothing
	// and duplicate sees nothing.
	Memory directory.SieveMemory
	// Global is the administrator's script (global.go); nil: none.
	Global *Global
	// Failed, when set, counts a script that failed at run time.
	Failed func()

	mu    sync.Mutex
	cache map[store.Account]cachedScript
}

type cachedScript struct {
	name   string
	sum    [32]byte
	script *sieve.Script // nil: no active script
	read   time.Time
	// vacation is the script of the JMAP VacationResponse, nil when there
	// is none (vacationscript.go).
	vacation    *sieve.Script
	vacationSum [32]byte
}

// active returns the account's compiled active script, nil for none,
// with its name and the digest of its source.
func (f *Filters) active(ctx context.Context, acct store.Account) cachedScript {
	f.mu.Lock()
	c, ok := f.cache[acct]
	f.mu.Unlock()
	if ok && time.Since(c.read) < scriptTTL {
		return c
	}
	name, src, err := f.Scripts.ActiveSieveScript(ctx, acct)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		c = cachedScript{read: time.Now()}
	case err != nil:
		f.Logger.Warn("reading the active sieve script; using the last one read", "account", acct, "err", err)
		return c
	default:
		c.name = name
		sum := sha256.Sum256([]byte(src))
		if !ok || c.sum != sum || c.script == nil {
			s, err := sieve.Compile(src)
			if err != nil {
				// ManageSieve stores only scripts that compile; one
				// that no longer does filters nothing.
				f.Logger.Warn("the active sieve script does not compile; keeping mail in INBOX", "account", acct, "err", err)
			}
			c.script = s
		}
		c.sum, c.read = sum, time.Now()
	}
	f.readVacation(ctx, acct, &c)
	f.mu.Lock()
	if f.cache == nil {
		f.cache = map[store.Account]cachedScript{}
	}
	f.cache[acct] = c
	f.mu.Unlock()
	return c
}

// target is one place a message goes after filtering.
type target struct {
	key     string
	mailbox string
	flags   []string
}

// filter runs the global script and then the account's script on the
// message of task t and returns what to do with it. Keep goes to the
// recipient's default mailbox (INBOX, the subaddress tag, or Junk) under
// the task's delivery key; each fileinto goes to its mailbox under the key
// and the mailbox's name, so a replay files nothing twice. Header edits,
// vacation replies and duplicate tracking are gathered in the outcome for
// HandleBatch to perform (sieveoutcome.go); redirect, reject and notify
// are sent here (sieveout.go). When a redirect or reject that cancelled
// the implicit keep is not performed, the message is kept, never lost.
func (d *Deliverer) filter(ctx context.Context, t spool.Task, raw []byte, def string) (*outcome, error) {
	e, r := t.Entry, t.Entry.Envelope.Recipients[t.Rcpt]
	key := Key(e.ID, t.Rcpt)
	keep := []target{{key: key, mailbox: def}}
	acct := store.Account(r.Account)
	o := &outcome{}
	active := d.Filters.active(ctx, acct)
	if active.script == nil && active.vacation == nil && d.Filters.Global == nil {
		o.targets = keep
		return o, nil
	}
	now := e.Envelope.Received
	if now.IsZero() {
		now = d.now()
	}
	in := d.Filters.input(ctx, acct, e.Envelope.From, r.Address, raw, now)
	in.MailboxExists = func(name string) bool {
		_, err := d.Store.Mailbox(ctx, acct, name)
		return err == nil
	}
	in.Seen = d.Filters.seen(ctx, acct, key, now)
	res := d.Filters.run(active, in)
	log := d.logger().With("id", e.ID, "rcpt", t.Rcpt, "account", acct)
	if res.Err != nil {
		log.Warn("sieve script failed; keeping the message", "script", active.name, "err", res.Err)
		o.failure = d.Filters.blame(active, in, res.Err)
	}
	kept, unperformed := false, false
	for _, a := range res.Actions {
		switch a := a.(type) {
		case sieve.Keep:
			o.targets = append(o.targets, target{key: key, mailbox: def, flags: a.Flags})
			kept = true
		case sieve.FileInto:
			if strings.EqualFold(a.Mailbox, def) || def == "" && strings.EqualFold(a.Mailbox, "INBOX") {
				o.targets = append(o.targets, target{key: key, mailbox: def, flags: a.Flags})
				kept = true
				continue
			}
			if a.Create {
				if _, err := d.Store.CreateMailbox(ctx, acct, a.Mailbox, ""); err != nil && !errors.Is(err, store.ErrExists) {
					log.Warn("sieve fileinto :create", "mailbox", a.Mailbox, "err", err)
				}
			}
			o.targets = append(o.targets, target{key: key + "/" + a.Mailbox, mailbox: a.Mailbox, flags: a.Flags})
		case sieve.Redirect, sieve.Reject:
			// sieveout.go; an action not performed keeps the message. A
			// redirect sends the message with the header edits made so
			// far (o.edits, in the script's order).
			done, err := d.sendAction(ctx, t, a, o.edits, log)
			if err != nil {
				return nil, err
			}
			unperformed = unperformed || !done
		case sieve.Notify:
			if err := d.notify(ctx, t, a, log); err != nil {
				return nil, err
			}
		case sieve.Vacation, sieve.AddHeader, sieve.DeleteHeader, sieve.TrackDuplicate:
			o.add(a)
		}
	}
	if unperformed && !kept {
		o.targets = append(o.targets, keep...)
	}
	o.targets = dedupe(o.targets)
	return o, nil
}

// input is what a run of acct's scripts reads: the message as the
// delivery stores it (raw, with the trace fields), the envelope, the time
// and include, which reads the directory. The caller adds the tests that
// read the store or the records: mailboxexists and duplicate.
func (f *Filters) input(ctx context.Context, acct store.Account, from, rcpt string, raw []byte, now time.Time) *sieve.Input {
	return &sieve.Input{
		Message:   raw,
		Envelope:  sieve.Envelope{From: from, To: rcpt},
		Now:       now,
		Addresses: []string{rcpt},
		Include: func(global bool, name string) (*sieve.Script, error) {
			if global {
				return f.Global.include(name)
			}
			_, src, err := f.Scripts.SieveScript(ctx, acct, name)
			if errors.Is(err, directory.ErrNotFound) {
				return nil, sieve.ErrNoScript
			}
			if err != nil {
				return nil, err
			}
			return sieve.Compile(src)
		},
	}
}

// dedupe keeps one target per key, the last one's flags winning (RFC 5232
// section 5).
func dedupe(ts []target) []target {
	var out []target
	for _, t := range ts {
		found := false
		for i := range out {
			if out[i].key == t.key {
				out[i].flags, found = t.flags, true
			}
		}
		if !found {
			out = append(out, t)
		}
	}
	return out
}
