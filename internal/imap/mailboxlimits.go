package imap

import (
	"context"
	"fmt"
	"strings"

	"casella/internal/store"
)

// Defaults for the limits on an account's mailboxes, used when the
// corresponding Server field is zero. They keep one account from making
// LIST and the store's tables grow without end; the answers carry RFC
// 5530's LIMIT code. The keywords of a mailbox are bounded by the store
// (store.MaxMailboxKeywords).
const (
	DefaultMaxMailboxes    = 1000
	DefaultMaxMailboxDepth = 20
	DefaultMaxMailboxName  = 512 // bytes of the whole name, in UTF-8
)

func orDefault(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

// checkMailboxName refuses a name too long or too deep to create.
func (c *conn) checkMailboxName(name string) error {
	if maxLen := orDefault(c.srv.MaxMailboxName, DefaultMaxMailboxName); len(name) > maxLen {
		return errNo("LIMIT", "Mailbox name of %d bytes is longer than the %d allowed", len(name), maxLen)
	}
	if maxDepth := orDefault(c.srv.MaxMailboxDepth, DefaultMaxMailboxDepth); strings.Count(name, store.Separator) >= maxDepth {
		return errNo("LIMIT", "Mailbox name has %d levels, more than the %d allowed", strings.Count(name, store.Separator)+1, maxDepth)
	}
	return nil
}

// checkMailboxCount refuses to make the account's mailboxes more than
// allowed when those named in create, and their missing parents (which the
// store creates too), are added.
func (c *conn) checkMailboxCount(ctx context.Context, create ...string) error {
	mbs, err := c.srv.Store.Mailboxes(ctx, c.acct.ID)
	if err != nil {
		return fmt.Errorf("counting mailboxes: %w", err)
	}
	exists := make(map[string]bool, len(mbs))
	for _, mb := range mbs {
		exists[mb.Name] = true
	}
	added := 0
	for _, name := range create {
		for i := range len(name) + 1 {
			if i < len(name) && name[i:i+1] != store.Separator {
				continue
			}
			if p := name[:i]; p != "" && !exists[p] {
				exists[p] = true
				added++
			}
		}
	}
	if maxBoxes := orDefault(c.srv.MaxMailboxes, DefaultMaxMailboxes); len(mbs)+added > maxBoxes {
		return errNo("LIMIT", "The account has %d mailboxes, the most allowed is %d; delete some first", len(mbs), maxBoxes)
	}
	return nil
}

// checkRename refuses a RENAME whose new names, children included, are too
// long or too deep, or whose missing parents take the account over its
// mailboxes. Renaming INBOX leaves an empty INBOX behind: one more mailbox
// (RFC 9051 section 6.3.6).
func (c *conn) checkRename(ctx context.Context, from, to string) error {
	mbs, err := c.srv.Store.Mailboxes(ctx, c.acct.ID)
	if err != nil {
		return fmt.Errorf("reading mailboxes: %w", err)
	}
	for _, mb := range mbs {
		if mb.Name == from || strings.HasPrefix(mb.Name, from+store.Separator) {
			if err := c.checkMailboxName(to + mb.Name[len(from):]); err != nil {
				return err
			}
		}
	}
	if from == store.Inbox {
		return c.checkMailboxCount(ctx, to)
	}
	if i := strings.LastIndex(to, store.Separator); i > 0 {
		return c.checkMailboxCount(ctx, to[:i])
	}
	return nil
}
