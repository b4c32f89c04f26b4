package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"casella/internal/store"
)

// RenameMailbox renames a mailbox and its children, creating missing
// parents of the new name (RFC 9051 section 6.3.6). Renaming INBOX moves its
// messages to a new mailbox and leaves INBOX, and its children, in place.
// Renamed mailboxes keep their IDs and UIDVALIDITY.
func (s *Store) RenameMailbox(ctx context.Context, acct store.Account, from, to string) error {
	cfrom, err := store.CanonicalName(from)
	if err != nil {
		return fmt.Errorf("rename %q: %w", from, store.ErrNotFound)
	}
	cto, err := store.CanonicalName(to)
	if err != nil {
		return err
	}
	return s.write(ctx, "rename mailbox", acct, false, func(w *wtx) error {
		src, err := w.boxByName(cfrom)
		if err != nil {
			return err
		}
		if err := w.createParents(cto); err != nil {
			return err
		}
		if cfrom == store.Inbox {
			id, err := w.createMailbox(cto, "", false)
			if err != nil {
				return err
			}
			rows, err := w.selectRows(src.id, nil, "")
			if err != nil {
				return err
			}
			for _, r := range rows {
				if _, err := w.moveMessage(src, w.boxes[id], r); err != nil {
					return err
				}
			}
			return nil
		}
		return w.renameTree(cfrom, cto)
	})
}

// createParents creates the missing ancestors of a canonical name.
func (w *wtx) createParents(name string) error {
	for _, p := range store.Parents(name) {
		if _, err := w.createMailbox(p, "", false); err != nil && !errors.Is(err, store.ErrExists) {
			return err
		}
	}
	return nil
}

// renameTree renames the mailbox from and every mailbox below it. Names move
// through a temporary name first, so that no intermediate state collides
// with the unique (account, name) index.
func (w *wtx) renameTree(from, to string) error {
	lo, hi := childRange(from)
	rows, err := w.tx.QueryContext(w.ctx, `SELECT id, name FROM mailboxes WHERE account = $1 AND (name = $2 OR (name >= $3 AND name < $4))`,
		w.acct, from, lo, hi)
	if err != nil {
		return fmt.Errorf("list mailboxes to rename: %w", err)
	}
	type rename struct {
		id       int64
		old, new string
	}
	var l []rename
	for rows.Next() {
		var r rename
		if err := rows.Scan(&r.id, &r.old); err != nil {
			rows.Close()
			return fmt.Errorf("list mailboxes to rename: %w", err)
		}
		r.new = to + r.old[len(from):]
		l = append(l, r)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("list mailboxes to rename: %w", err)
	}
	moving := map[string]bool{}
	for _, r := range l {
		moving[r.old] = true
	}
	for _, r := range l {
		var one int
		err := w.tx.QueryRowContext(w.ctx, `SELECT 1 FROM mailboxes WHERE account = $1 AND name = $2`, w.acct, r.new).Scan(&one)
		if err != nil && err != sql.ErrNoRows {
			return fmt.Errorf("look up mailbox %q: %w", r.new, err)
		}
		if err == nil && !moving[r.new] || r.new == store.Inbox {
			return fmt.Errorf("mailbox %q: %w", r.new, store.ErrExists)
		}
	}
	// Subscriptions follow the renamed mailboxes: all old names leave
	// before the new ones arrive, so that none collides on the way.
	var subscribed []string
	for _, r := range l {
		res, err := w.exec(`DELETE FROM subscriptions WHERE account = $1 AND name = $2`, w.acct, r.old)
		if err != nil {
			return fmt.Errorf("move subscription of %q: %w", r.old, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("move subscription of %q: %w", r.old, err)
		} else if n > 0 {
			subscribed = append(subscribed, r.new)
		}
	}
	for _, name := range subscribed {
		if _, err := w.exec(`INSERT INTO subscriptions (account, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`, w.acct, name); err != nil {
			return fmt.Errorf("move subscription to %q: %w", name, err)
		}
	}
	for _, r := range l {
		if _, err := w.exec(`UPDATE mailboxes SET name = $1 WHERE id = $2`, fmt.Sprintf("\x01rename\x01%d", r.id), r.id); err != nil {
			return fmt.Errorf("rename %q: %w", r.old, err)
		}
	}
	for _, r := range l {
		if _, err := w.exec(`UPDATE mailboxes SET name = $1 WHERE id = $2`, r.new, r.id); err != nil {
			return fmt.Errorf("rename %q to %q: %w", r.old, r.new, err)
		}
		b, err := w.box(r.id)
		if err != nil {
			return err
		}
		b.name = r.new
		if err := w.logChange(b, w.nextModSeq(), 0, 0, store.MailboxChanged); err != nil {
			return err
		}
	}
	return nil
}

// childRange returns the bounds [lo, hi) of the names below name in byte
// order: those starting with name and the separator. The unique
// (account, name) index serves the range.
func childRange(name string) (lo, hi string) {
	sep := store.Separator[0]
	return name + store.Separator, name + string(rune(sep+1))
}

// DeleteMailbox removes a mailbox that has no children, with its messages;
// each message's expunge is logged so that clients syncing the account
// learn that it is gone. INBOX cannot be deleted.
func (s *Store) DeleteMailbox(ctx context.Context, acct store.Account, name string) error {
	cname, err := store.CanonicalName(name)
	if err != nil {
		return fmt.Errorf("delete mailbox %q: %w", name, store.ErrNotFound)
	}
	if cname == store.Inbox {
		return fmt.Errorf("delete mailbox %q: %w", name, store.ErrNotPermitted)
	}
	return s.write(ctx, "delete mailbox", acct, false, func(w *wtx) error {
		b, err := w.boxByName(cname)
		if err != nil {
			return err
		}
		var children bool
		lo, hi := childRange(cname)
		err = w.tx.QueryRowContext(w.ctx, `SELECT EXISTS (SELECT 1 FROM mailboxes WHERE account = $1 AND name >= $2 AND name < $3)`,
			w.acct, lo, hi).Scan(&children)
		if err != nil {
			return fmt.Errorf("look for children: %w", err)
		}
		if children {
			return fmt.Errorf("mailbox %q: %w", name, store.ErrHasChildren)
		}
		rows, err := w.selectRows(b.id, nil, "")
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := w.logChange(b, w.nextModSeq(), r.UID, r.EmailID, store.MessageExpunged); err != nil {
				return err
			}
		}
		if _, err := w.exec(`DELETE FROM metadata WHERE account = $1 AND mailbox = $2`, w.acct, b.id); err != nil {
			return fmt.Errorf("delete annotations of %q: %w", name, err)
		}
		if _, err := w.exec(`DELETE FROM mailboxes WHERE id = $1`, b.id); err != nil {
			return fmt.Errorf("delete mailbox %q: %w", name, err)
		}
		b.deleted = true
		return w.logChange(b, w.nextModSeq(), 0, 0, store.MailboxDeleted)
	})
}
