package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"casella/internal/store"
)

const mailboxColumns = `id, account, name, special_use,
	EXISTS (SELECT 1 FROM subscriptions s WHERE s.account = mailboxes.account AND s.name = mailboxes.name),
	uidvalidity, uidnext, highest_modseq, messages, unseen, deleted, size, recent_mark`

func scanMailbox(sc interface{ Scan(...any) error }) (store.Mailbox, error) {
	var mb store.Mailbox
	err := sc.Scan(&mb.ID, &mb.Account, &mb.Name, &mb.SpecialUse, &mb.Subscribed, &mb.UIDValidity, &mb.UIDNext,
		&mb.HighestModSeq, &mb.Messages, &mb.Unseen, &mb.Deleted, &mb.Size, &mb.RecentMark)
	return mb, err
}

// validSpecialUse reports whether use is one of the RFC 6154 attributes
// the store knows, or empty.
func validSpecialUse(use string) bool {
	switch use {
	case "", store.UseAll, store.UseArchive, store.UseDrafts, store.UseFlagged, store.UseJunk, store.UseSent, store.UseTrash:
		return true
	}
	return false
}

// Mailboxes returns the account's mailboxes sorted by name (byte order of
// their UTF-8, which is code point order).
func (s *Store) Mailboxes(ctx context.Context, acct store.Account) ([]store.Mailbox, error) {
	if err := checkAccount(ctx, s.rq, acct); err != nil {
		return nil, dbError("list mailboxes", err)
	}
	rows, err := s.rq.QueryContext(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE account = $1 ORDER BY name`, acct)
	if err != nil {
		return nil, dbError("list mailboxes", err)
	}
	defer rows.Close()
	var l []store.Mailbox
	for rows.Next() {
		mb, err := scanMailbox(rows)
		if err != nil {
			return nil, dbError("list mailboxes", err)
		}
		l = append(l, mb)
	}
	return l, dbError("list mailboxes", rows.Err())
}

// Mailbox returns the mailbox with the given name; an invalid name, which no
// mailbox can have, gives store.ErrNotFound too.
func (s *Store) Mailbox(ctx context.Context, acct store.Account, name string) (store.Mailbox, error) {
	cname, err := store.CanonicalName(name)
	if err != nil {
		return store.Mailbox{}, fmt.Errorf("mailbox %q: %w", name, store.ErrNotFound)
	}
	mb, err := scanMailbox(s.rq.QueryRowContext(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE account = $1 AND name = $2`, acct, cname))
	if err == sql.ErrNoRows {
		return store.Mailbox{}, fmt.Errorf("mailbox %q: %w", name, store.ErrNotFound)
	}
	return mb, dbError("read mailbox", err)
}

// CreateMailbox creates the mailbox and its missing parents. An existing
// name gives store.ErrExists; an unknown special use gives
// store.ErrNotPermitted (RFC 6154 section 3, USEATTR).
func (s *Store) CreateMailbox(ctx context.Context, acct store.Account, name, specialUse string) (store.Mailbox, error) {
	cname, err := store.CanonicalName(name)
	if err != nil {
		return store.Mailbox{}, err
	}
	if !validSpecialUse(specialUse) {
		return store.Mailbox{}, fmt.Errorf("create mailbox %q: special use %q: %w", name, specialUse, store.ErrNotPermitted)
	}
	var mb store.Mailbox
	err = s.write(ctx, "create mailbox", acct, false, func(w *wtx) error {
		if err := w.createParents(cname); err != nil {
			return err
		}
		id, err := w.createMailbox(cname, specialUse, false)
		if err != nil {
			return err
		}
		if err := w.finish(); err != nil {
			return err
		}
		mb, err = scanMailbox(w.tx.QueryRowContext(w.ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE id = $1`, id))
		return err
	})
	return mb, err
}

// createMailbox inserts one mailbox with the canonical name and logs it.
func (w *wtx) createMailbox(name, specialUse string, subscribed bool) (int64, error) {
	var one int
	err := w.tx.QueryRowContext(w.ctx, `SELECT 1 FROM mailboxes WHERE account = $1 AND name = $2`, w.acct, name).Scan(&one)
	if err == nil {
		return 0, fmt.Errorf("mailbox %q: %w", name, store.ErrExists)
	} else if err != sql.ErrNoRows {
		return 0, fmt.Errorf("look up mailbox %q: %w", name, err)
	}
	ms := w.nextModSeq()
	var id int64
	err = w.tx.QueryRowContext(w.ctx, `INSERT INTO mailboxes (account, name, special_use, uidvalidity, highest_modseq)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, w.acct, name, specialUse, w.nextUIDValidity(), ms).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("create mailbox %q: %w", name, err)
	}
	if subscribed {
		if _, err := w.exec(`INSERT INTO subscriptions (account, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`, w.acct, name); err != nil {
			return 0, fmt.Errorf("subscribe %q: %w", name, err)
		}
	}
	b := &boxState{id: id, name: name, uidnext: 1, startUIDNext: 1}
	w.boxes[id] = b
	return id, w.logChange(b, ms, 0, 0, store.MailboxCreated)
}

// Subscribe adds the name to the subscriptions, or removes it. A change
// to an existing mailbox's subscription is logged as a change of it.
func (s *Store) Subscribe(ctx context.Context, acct store.Account, name string, on bool) error {
	cname, err := store.CanonicalName(name)
	if err != nil {
		return fmt.Errorf("subscribe %q: %w", name, store.ErrNotFound)
	}
	return s.write(ctx, "subscribe", acct, false, func(w *wtx) error {
		b, err := w.boxByName(cname)
		if err != nil && (on || !errors.Is(err, store.ErrNotFound)) {
			return err
		}
		q := `INSERT INTO subscriptions (account, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`
		if !on {
			q = `DELETE FROM subscriptions WHERE account = $1 AND name = $2`
		}
		res, err := w.exec(q, w.acct, cname)
		if err != nil {
			return fmt.Errorf("update subscription: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("update subscription: %w", err)
		}
		switch {
		case b == nil && n == 0:
			return fmt.Errorf("unsubscribe %q: %w", name, store.ErrNotFound)
		case b == nil || n == 0:
			return nil
		}
		return w.logChange(b, w.nextModSeq(), 0, 0, store.MailboxChanged)
	})
}

// Subscriptions returns the subscribed names in byte order.
func (s *Store) Subscriptions(ctx context.Context, acct store.Account) ([]string, error) {
	if err := checkAccount(ctx, s.rq, acct); err != nil {
		return nil, dbError("list subscriptions", err)
	}
	rows, err := s.rq.QueryContext(ctx, `SELECT name FROM subscriptions WHERE account = $1 ORDER BY name`, acct)
	if err != nil {
		return nil, dbError("list subscriptions", err)
	}
	defer rows.Close()
	var l []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, dbError("list subscriptions", err)
		}
		l = append(l, n)
	}
	return l, dbError("list subscriptions", rows.Err())
}
