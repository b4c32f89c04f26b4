package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"casella/internal/store"
)

// UpdateFlags changes the flags of the selected messages. A message whose
// flags do not change keeps its MODSEQ and is not reported; each changed
// message gets its own new MODSEQ.
func (s *Store) UpdateFlags(ctx context.Context, acct store.Account, u store.FlagUpdate) (store.FlagResult, error) {
	flags, err := store.CanonicalFlags(u.Flags)
	if err != nil {
		return store.FlagResult{}, fmt.Errorf("update flags: %w", err)
	}
	upBits, upKeywords := encodeFlags(flags)
	var res store.FlagResult
	err = s.write(ctx, "update flags", acct, false, func(w *wtx) error {
		res = store.FlagResult{Prior: w.prior}
		b, err := w.box(u.Mailbox)
		if err != nil {
			return err
		}
		rows, err := w.selectRows(b.id, u.UIDs, "")
		if err != nil {
			return err
		}
		if u.Op != store.FlagsRemove && len(upKeywords) > 0 && len(rows) > 0 {
			if upKeywords, err = w.addKeywords(b.id, upKeywords); err != nil {
				return err
			}
			if err := w.checkKeywords(b.id); err != nil {
				return err
			}
		}
		for _, r := range rows {
			if u.UnchangedSince != 0 && r.ModSeq > u.UnchangedSince {
				res.Failed = append(res.Failed, r.UID)
				continue
			}
			bits, keywords, changed := applyFlags(u.Op, r.bits, r.keywords, upBits, upKeywords)
			if !changed {
				continue
			}
			ms := w.nextModSeq()
			if _, err := w.exec(`UPDATE messages SET flags = $1, keywords = $2, modseq = $3 WHERE id = $4`, bits, keywords, ms, r.ID); err != nil {
				return fmt.Errorf("update flags of uid %d: %w", r.UID, err)
			}
			if err := w.logChange(b, ms, r.UID, r.EmailID, store.MessageFlagsChanged); err != nil {
				return err
			}
			b.count(r.bits, 0, -1)
			b.count(bits, 0, 1)
			r.ModSeq, r.Flags = ms, decodeFlags(bits, keywords)
			res.Changed = append(res.Changed, r.Message)
		}
		// The counters' entries now, so that Last covers them.
		if err := w.finish(); err != nil {
			return err
		}
		res.Last = w.modseq
		return nil
	})
	if err != nil {
		return store.FlagResult{}, err
	}
	return res, nil
}

// Expunge removes the messages flagged \Deleted, among uids when not nil.
func (s *Store) Expunge(ctx context.Context, acct store.Account, mailbox int64, uids []store.UIDRange) ([]uint32, error) {
	var removed []uint32
	err := s.write(ctx, "expunge", acct, false, func(w *wtx) error {
		removed = nil
		b, err := w.box(mailbox)
		if err != nil {
			return err
		}
		rows, err := w.selectRows(b.id, uids, fmt.Sprintf(" AND m.flags & %d != 0", flagDeleted))
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := w.remove(b, r); err != nil {
				return err
			}
			removed = append(removed, r.UID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// remove deletes one message and logs its expunge.
func (w *wtx) remove(b *boxState, r row) error {
	if _, err := w.exec(`DELETE FROM messages WHERE id = $1`, r.ID); err != nil {
		return fmt.Errorf("delete uid %d: %w", r.UID, err)
	}
	if err := w.logChange(b, w.nextModSeq(), r.UID, r.EmailID, store.MessageExpunged); err != nil {
		return err
	}
	b.count(r.bits, r.Size, -1)
	return nil
}

// transfer loads the source and destination mailboxes of a Copy or Move
// and the source's messages in the UID ranges.
func (w *wtx) transfer(from, to int64, uids []store.UIDRange) (src, dst *boxState, rows []row, err error) {
	if src, err = w.box(from); err != nil {
		return nil, nil, nil, err
	}
	if dst, err = w.box(to); err != nil {
		return nil, nil, nil, err
	}
	if rows, err = w.selectRows(src.id, uids, ""); err != nil {
		return nil, nil, nil, err
	}
	return src, dst, rows, nil
}

// Copy copies the messages to another mailbox of the account, in UID order.
// Copies keep EMAILID, THREADID, flags and internal date; they get new
// UIDs, MODSEQs and a new save date (RFC 8514).
func (s *Store) Copy(ctx context.Context, acct store.Account, from int64, uids []store.UIDRange, to int64) ([]store.UIDPair, error) {
	var pairs []store.UIDPair
	err := s.write(ctx, "copy", acct, false, func(w *wtx) error {
		pairs = nil
		_, dst, rows, err := w.transfer(from, to, uids)
		if err != nil {
			return err
		}
		for _, r := range rows {
			uid, err := dst.allocUID()
			if err != nil {
				return err
			}
			ms := w.nextModSeq()
			st, err := w.stmt(`INSERT INTO messages (account, mailbox, uid, email_id, thread_id, modseq, flags, keywords,
				internal, saved, size, blob, sent, subject, from_addr, to_addr, cc_addr, message_id)
				SELECT account, $1, $2, ` + ownID("email_id") + `, ` + ownID("thread_id") + `, $3, flags, keywords,
				internal, $4, size, blob, sent, subject, from_addr, to_addr, cc_addr, message_id
				FROM messages m WHERE id = $5 RETURNING id`)
			if err != nil {
				return err
			}
			var id int64
			if err := st.QueryRowContext(w.ctx, dst.id, uid, ms, w.now.UnixNano(), r.ID).Scan(&id); err != nil {
				return fmt.Errorf("copy uid %d: %w", r.UID, err)
			}
			if _, err := w.exec(`INSERT INTO message_meta (message, meta) SELECT $1, meta FROM message_meta WHERE message = $2`, id, r.ID); err != nil {
				return fmt.Errorf("copy metadata of uid %d: %w", r.UID, err)
			}
			if _, err := w.addKeywords(dst.id, strings.Fields(r.keywords)); err != nil {
				return err
			}
			if err := w.logChange(dst, ms, uid, r.EmailID, store.MessageAdded); err != nil {
				return err
			}
			dst.count(r.bits, r.Size, 1)
			pairs = append(pairs, store.UIDPair{From: r.UID, To: uid})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return pairs, nil
}

// Move moves the messages to another mailbox of the account in one
// transaction (RFC 6851). A moved message keeps its ID, EMAILID and
// THREADID; the source logs an expunge and the destination an addition,
// each with its own MODSEQ.
func (s *Store) Move(ctx context.Context, acct store.Account, from int64, uids []store.UIDRange, to int64) ([]store.UIDPair, error) {
	var pairs []store.UIDPair
	err := s.write(ctx, "move", acct, false, func(w *wtx) error {
		pairs = nil
		src, dst, rows, err := w.transfer(from, to, uids)
		if err != nil {
			return err
		}
		for _, r := range rows {
			uid, err := w.moveMessage(src, dst, r)
			if err != nil {
				return err
			}
			pairs = append(pairs, store.UIDPair{From: r.UID, To: uid})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return pairs, nil
}

// moveMessage moves one message between mailboxes of the transaction's
// account and returns its new UID.
func (w *wtx) moveMessage(src, dst *boxState, r row) (uint32, error) {
	uid, err := dst.allocUID()
	if err != nil {
		return 0, err
	}
	if err := w.logChange(src, w.nextModSeq(), r.UID, r.EmailID, store.MessageExpunged); err != nil {
		return 0, err
	}
	ms := w.nextModSeq()
	if _, err := w.exec(`UPDATE messages SET mailbox = $1, uid = $2, modseq = $3, saved = $4 WHERE id = $5`,
		dst.id, uid, ms, w.now.UnixNano(), r.ID); err != nil {
		return 0, fmt.Errorf("move uid %d: %w", r.UID, err)
	}
	if _, err := w.addKeywords(dst.id, strings.Fields(r.keywords)); err != nil {
		return 0, err
	}
	if err := w.logChange(dst, ms, uid, r.EmailID, store.MessageAdded); err != nil {
		return 0, err
	}
	src.count(r.bits, r.Size, -1)
	dst.count(r.bits, r.Size, 1)
	return uid, nil
}
