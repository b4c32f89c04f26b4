package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"casella/internal/store"
)

// Keywords returns the keywords in use in the mailbox, from the
// mailbox_keywords table, which every write that gives a message a
// keyword fills in the same transaction.
func (s *Store) Keywords(ctx context.Context, acct store.Account, mailbox int64) ([]string, error) {
	// One query, which SELECT makes: the mailbox's row left-joined to its
	// keywords, so that no row means no such mailbox of the account and
	// one row of NULL a mailbox without keywords.
	st, err := s.rq.Stmt(ctx, `SELECT k.keyword FROM mailboxes b LEFT JOIN mailbox_keywords k ON k.mailbox = b.id
		WHERE b.id = $1 AND b.account = $2`)
	if err != nil {
		return nil, dbError("list keywords", err)
	}
	rows, err := st.QueryContext(ctx, mailbox, acct)
	if err != nil {
		return nil, dbError("list keywords", err)
	}
	defer rows.Close()
	var (
		l     []string
		found bool
	)
	for rows.Next() {
		var k sql.NullString
		if err := rows.Scan(&k); err != nil {
			return nil, dbError("list keywords", err)
		}
		found = true
		if k.Valid {
			l = append(l, k.String)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("list keywords", err)
	}
	if !found {
		return nil, dbError("list keywords", fmt.Errorf("mailbox %d: %w", mailbox, store.ErrNotFound))
	}
	return l, nil
}

// addKeywords records keywords as in use in the mailbox and returns them
// as the mailbox spells them: the first spelling stays, so that a message
// never shows a keyword in another case than FLAGS lists it.
func (w *wtx) addKeywords(mailbox int64, keywords []string) ([]string, error) {
	if len(keywords) == 0 {
		return keywords, nil
	}
	// folded is the keyword in ASCII lower case: the key on every engine,
	// whatever its collations.
	st, err := w.stmt(`INSERT INTO mailbox_keywords (mailbox, folded, keyword) VALUES ($1, $2, $3)
		ON CONFLICT (mailbox, folded) DO UPDATE SET keyword = mailbox_keywords.keyword RETURNING keyword`)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(keywords))
	for i, k := range keywords {
		if err := st.QueryRowContext(w.ctx, mailbox, strings.ToLower(k), k).Scan(&out[i]); err != nil {
			return nil, fmt.Errorf("record keyword %q: %w", k, err)
		}
	}
	return out, nil
}

// checkKeywords refuses the transaction when the mailbox has more than
// store.MaxMailboxKeywords keywords in use; the caller's error rolls back
// what brought them.
func (w *wtx) checkKeywords(mailbox int64) error {
	var n int
	st, err := w.stmt(`SELECT count(*) FROM mailbox_keywords WHERE mailbox = $1`)
	if err != nil {
		return err
	}
	if err := st.QueryRowContext(w.ctx, mailbox).Scan(&n); err != nil {
		return fmt.Errorf("count keywords: %w", err)
	}
	if n > store.MaxMailboxKeywords {
		return fmt.Errorf("mailbox %d would have %d keywords, at most %d are allowed: %w", mailbox, n, store.MaxMailboxKeywords, store.ErrTooManyKeywords)
	}
	return nil
}
