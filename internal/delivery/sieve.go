package delivery

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
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

	mu    sync.Mutex
	cache map[store.Account]cachedScript
}

type cachedScript struct {
	sum    [32]byte
	script *sieve.Script // nil: no active script
	read   time.Time
}

// active returns the account's compiled active script, or nil for none.
func (f *Filters) active(ctx context.Context, acct store.Account) *sieve.Script {
	f.mu.Lock()
	c, ok := f.cache[acct]
	f.mu.Unlock()
	if ok && time.Since(c.read) < scriptTTL {
		return c.script
	}
	_, src, err := f.Scripts.ActiveSieveScript(ctx, acct)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		c = cachedScript{read: time.Now()}
	case err != nil:
		f.Logger.Warn("reading the active sieve script; using the last one read", "account", acct, "err", err)
		return c.script
	default:
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
	f.mu.Lock()
	if f.cache == nil {
		f.cache = map[store.Account]cachedScript{}
	}
	f.cache[acct] = c
	f.mu.Unlock()
	return c.script
}

// target is one place a message goes after filtering.
type target struct {
	key     string
	mailbox string
	flags   []string
}

// filter runs the account's script on the message of task t and returns
// where it goes. Keep goes to the recipient's default mailbox (INBOX, the
// subaddress tag, or Junk) under the task's delivery key; each fileinto
// goes to its mailbox under the key and the mailbox's name, so a replay
// files nothing twice. Actions the delivery does not perform yet
// (redirect, reject, vacation, notify, header edits) are logged; when one
// of them cancelled the implicit keep, the message is kept, never lost.
func (d *Deliverer) filter(ctx context.Context, t spool.Task, raw []byte, def string) ([]target, error) {
	e, r := t.Entry, t.Entry.Envelope.Recipients[t.Rcpt]
	key := Key(e.ID, t.Rcpt)
	keep := []target{{key: key, mailbox: def}}
	acct := store.Account(r.Account)
	script := d.Filters.active(ctx, acct)
	if script == nil {
		return keep, nil
	}
	now := e.Envelope.Received
	if now.IsZero() {
		now = d.now()
	}
	res := sieve.Run(script, &sieve.Input{
		Message:   raw,
		Envelope:  sieve.Envelope{From: e.Envelope.From, To: r.Address},
		Now:       now,
		Addresses: []string{r.Address},
		MailboxExists: func(name string) bool {
			_, err := d.Store.Mailbox(ctx, acct, name)
			return err == nil
		},
		Include: func(global bool, name string) (*sieve.Script, error) {
			if global {
				return nil, sieve.ErrNoScript
			}
			_, src, err := d.Filters.Scripts.SieveScript(ctx, acct, name)
			if errors.Is(err, directory.ErrNotFound) {
				return nil, sieve.ErrNoScript
			}
			if err != nil {
				return nil, err
			}
			return sieve.Compile(src)
		},
	})
	log := d.logger().With("id", e.ID, "rcpt", t.Rcpt, "account", acct)
	if res.Err != nil {
		log.Warn("sieve script failed; keeping the message", "err", res.Err)
	}
	var out []target
	kept, unperformed := false, false
	for _, a := range res.Actions {
		switch a := a.(type) {
		case sieve.Keep:
			out = append(out, target{key: key, mailbox: def, flags: a.Flags})
			kept = true
		case sieve.FileInto:
			if strings.EqualFold(a.Mailbox, def) || def == "" && strings.EqualFold(a.Mailbox, "INBOX") {
				out = append(out, target{key: key, mailbox: def, flags: a.Flags})
				kept = true
				continue
			}
			if a.Create {
				if _, err := d.Store.CreateMailbox(ctx, acct, a.Mailbox, ""); err != nil && !errors.Is(err, store.ErrExists) {
					log.Warn("sieve fileinto :create", "mailbox", a.Mailbox, "err", err)
				}
			}
			out = append(out, target{key: key + "/" + a.Mailbox, mailbox: a.Mailbox, flags: a.Flags})
		case sieve.Redirect, sieve.Reject:
			unperformed = true
			log.Warn("sieve action not performed by this version; the message is kept", "action", fmt.Sprintf("%T", a))
		case sieve.Vacation, sieve.Notify, sieve.AddHeader, sieve.DeleteHeader:
			log.Info("sieve action not performed by this version", "action", fmt.Sprintf("%T", a))
		}
	}
	if unperformed && !kept {
		out = append(out, keep...)
	}
	return dedupe(out), nil
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
