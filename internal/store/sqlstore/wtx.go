package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"time"

	"casella/internal/sqlprep"
	"casella/internal/store"
)

// wtx is one write transaction on one account. It hands out MODSEQs and
// UIDs and accumulates counter changes, which finish writes back in the
// same transaction.
type wtx struct {
	ctx  context.Context
	tx   *sqlprep.Tx // statements prepared once on the writer, bound to the transaction
	acct store.Account
	lock string // Dialect.LockAccount
	now  time.Time

	modseq      uint64 // last MODSEQ handed out
	prior       uint64 // the account's MODSEQ when the transaction began
	uidvalidity uint32 // last UIDVALIDITY handed out
	startUIDV   uint32
	gone        bool // the account was deleted
	changed     bool // something watchers should hear about

	boxes map[int64]*boxState
	stmts map[string]*sql.Stmt
}

// boxState is a mailbox touched by a write transaction.
type boxState struct {
	id           int64
	name         string
	uidnext      uint32
	startUIDNext uint32
	modseq       uint64 // highest MODSEQ given to a change in this mailbox
	deleted      bool   // the mailbox was removed

	// Changes of the mailbox counters.
	messages, unseen, deletedMsgs int
	size                          int64
}

// load reads and locks the account, creating it with its default
// mailboxes when it does not exist and create is set.
func (w *wtx) load(create bool) error {
	w.now = time.Now()
	// Without a lock to wait for (SQLite, one writer), the change log's
	// last MODSEQ comes in the same statement; see below for the other
	// case.
	query := `SELECT modseq, uidvalidity, (` + lastLoggedModSeq + `) FROM accounts WHERE id = $1`
	if w.lock != "" {
		query = `SELECT modseq, uidvalidity, 0 FROM accounts WHERE id = $1` + w.lock
	}
	var rowModSeq, logModSeq uint64
	err := w.tx.QueryRowContext(w.ctx, query, w.acct).Scan(&rowModSeq, &w.uidvalidity, &logModSeq)
	if err == sql.ErrNoRows && create {
		// Another connection may be creating the account at the same
		// moment: the insert then waits for it and does nothing, and the
		// account is read again as an existing one.
		res, err := w.tx.ExecContext(w.ctx, `INSERT INTO accounts (id) VALUES ($1) ON CONFLICT DO NOTHING`, w.acct)
		if err != nil {
			return fmt.Errorf("create account %d: %w", w.acct, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("create account %d: %w", w.acct, err)
		} else if n == 0 {
			return w.load(false)
		}
		w.changed = true
		for _, mb := range store.DefaultMailboxes {
			if _, err := w.createMailbox(mb.Name, mb.SpecialUse, true); err != nil {
				return err
			}
		}
		return nil
	}
	if err == sql.ErrNoRows {
		return fmt.Errorf("account %d: %w", w.acct, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("read account %d: %w", w.acct, err)
	}
	// With a lock, a statement of its own after it: under READ
	// COMMITTED, a statement that waited for the lock still reads with
	// the snapshot from before the wait, and would miss the holder's
	// entries.
	if w.lock != "" {
		if err := w.tx.QueryRowContext(w.ctx, lastLoggedModSeq, w.acct).Scan(&logModSeq); err != nil {
			return fmt.Errorf("read account %d: %w", w.acct, err)
		}
	}
	w.modseq, w.startUIDV = max(rowModSeq, logModSeq), w.uidvalidity
	w.prior = w.modseq
	return nil
}

// lastLoggedModSeq is the query for the MODSEQ of the last entry in the
// change log of account $1, or 0: one seek to the end of the account's
// part of the log's primary key.
const lastLoggedModSeq = `SELECT coalesce(max(modseq), 0) FROM changes WHERE account = $1`

// nextModSeq hands out the account's next MODSEQ.
func (w *wtx) nextModSeq() uint64 {
	w.modseq++
	w.changed = true
	return w.modseq
}

// nextUIDValidity hands out a UIDVALIDITY that no mailbox of the account has
// had before: the current time, or one more than the last one.
func (w *wtx) nextUIDValidity() uint32 {
	v := max(uint32(min(w.now.Unix(), math.MaxUint32)), w.uidvalidity+1)
	w.uidvalidity = v
	return v
}

// stmt returns query's statement bound to the transaction, reusing the
// binding for loops over many messages. Only constant query texts go in:
// the statement stays prepared for the next transaction.
func (w *wtx) stmt(query string) (*sql.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	st, err := w.tx.Stmt(w.ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	w.stmts[query] = st
	return st, nil
}

func (w *wtx) exec(query string, args ...any) (sql.Result, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(w.ctx, args...)
}

// logChange appends an entry to the change log and records the mailbox's
// highest MODSEQ.
func (w *wtx) logChange(b *boxState, modseq uint64, uid uint32, emailID int64, kind store.ChangeKind) error {
	if _, err := w.exec(`INSERT INTO changes (account, modseq, mailbox, uid, email_id, kind) VALUES ($1, $2, $3, $4, $5, $6)`,
		w.acct, modseq, b.id, uid, emailID, kind); err != nil {
		return fmt.Errorf("log change: %w", err)
	}
	b.modseq = max(b.modseq, modseq)
	return nil
}

// box returns the state of a mailbox of the account, or store.ErrNotFound
// when the account has no mailbox with that ID.
func (w *wtx) box(id int64) (*boxState, error) {
	if b, ok := w.boxes[id]; ok && !b.deleted {
		return b, nil
	}
	b := &boxState{id: id}
	err := w.tx.QueryRowContext(w.ctx, `SELECT name, uidnext FROM mailboxes WHERE id = $1 AND account = $2`, id, w.acct).Scan(&b.name, &b.uidnext)
	if err == sql.ErrNoRows {
		return nil, fmt.Errorf("mailbox %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read mailbox %d: %w", id, err)
	}
	b.startUIDNext = b.uidnext
	w.boxes[id] = b
	return b, nil
}

// boxByName returns the state of the mailbox with the canonical name. It
// reads what box reads in the same query: on a server every query is a
// round trip, and every delivery comes here.
func (w *wtx) boxByName(name string) (*boxState, error) {
	b := &boxState{}
	err := w.tx.QueryRowContext(w.ctx, `SELECT id, name, uidnext FROM mailboxes WHERE account = $1 AND name = $2`, w.acct, name).Scan(&b.id, &b.name, &b.uidnext)
	if err == sql.ErrNoRows {
		return nil, fmt.Errorf("mailbox %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read mailbox %q: %w", name, err)
	}
	if known, ok := w.boxes[b.id]; ok && !known.deleted {
		return known, nil
	}
	b.startUIDNext = b.uidnext
	w.boxes[b.id] = b
	return b, nil
}

// allocUID hands out the mailbox's next UID.
func (b *boxState) allocUID() (uint32, error) {
	if b.uidnext == math.MaxUint32 {
		return 0, fmt.Errorf("mailbox %q has used all UIDs", b.name)
	}
	uid := b.uidnext
	b.uidnext++
	return uid, nil
}

// count records a message with the given system flags and size entering
// (n = 1) or leaving (n = -1) the mailbox.
func (b *boxState) count(flags int, size int64, n int) {
	b.messages += n
	b.size += int64(n) * size
	if flags&flagSeen == 0 {
		b.unseen += n
	}
	if flags&flagDeleted != 0 {
		b.deletedMsgs += n
	}
}

// finish writes the counters back. A mailbox whose counters moved gets a
// MailboxChanged entry in the change log. Calling finish again writes only
// what changed since, so a method may finish early to read its results.
func (w *wtx) finish() error {
	if w.gone {
		return nil
	}
	ids := make([]int64, 0, len(w.boxes))
	for id := range w.boxes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		b := w.boxes[id]
		if b.deleted {
			continue
		}
		if b.messages != 0 || b.unseen != 0 || b.deletedMsgs != 0 || b.size != 0 {
			if err := w.logChange(b, w.nextModSeq(), 0, 0, store.MailboxChanged); err != nil {
				return err
			}
		}
		if b.modseq == 0 && b.uidnext == b.startUIDNext {
			continue
		}
		if _, err := w.exec(`UPDATE mailboxes SET uidnext = $1, highest_modseq = CASE WHEN highest_modseq < $2 THEN $2 ELSE highest_modseq END,
			messages = messages + $3, unseen = unseen + $4, deleted = deleted + $5, size = size + $6
			WHERE id = $7`, b.uidnext, b.modseq, b.messages, b.unseen, b.deletedMsgs, b.size, b.id); err != nil {
			return fmt.Errorf("update mailbox %q: %w", b.name, err)
		}
		b.startUIDNext, b.modseq = b.uidnext, 0
		b.messages, b.unseen, b.deletedMsgs, b.size = 0, 0, 0, 0
	}
	if w.uidvalidity != w.startUIDV {
		if _, err := w.exec(`UPDATE accounts SET modseq = $1, uidvalidity = $2 WHERE id = $3`, w.modseq, w.uidvalidity, w.acct); err != nil {
			return fmt.Errorf("update account %d: %w", w.acct, err)
		}
		w.startUIDV = w.uidvalidity
	}
	return nil
}
