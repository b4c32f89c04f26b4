package imap

import (
	"context"
	"fmt"
	"strings"

	"casella/internal/store"
)

// Defaults for the limits on an account's mailboxes, used when the
// corresponding Server field is zero. They keep one account from making
// LIST, SELECT's FLAGS and the store's tables grow without end; the
// answers carry RFC 5530's LIMIT code.
const (
	DefaultMaxMailboxes    = 1000
	DefaultMaxMailboxDepth = 20
	DefaultMaxMailboxName  = 512 // bytes of the whole name, in UTF-8
	DefaultMaxKeywords     = 256 // distinct keywords in one mailbox
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

// keywordSet is what a session knows of the distinct keywords of one
// mailbox: all of them as of its last reading, and those it added since.
type keywordSet struct {
	mailbox int64
	names   map[string]bool // lower case: keywords compare without case
}

// checkKeywords refuses flags that would take a mailbox over the
// distinct keywords allowed. The mailbox's keywords are read from the
// store only when flags name one this session does not know of there, so
// the usual STORE of known flags costs nothing.
func (c *conn) checkKeywords(ctx context.Context, mailbox int64, flags []string) error {
	var kws []string
	for _, f := range flags {
		if !strings.HasPrefix(f, `\`) {
			kws = append(kws, strings.ToLower(f))
		}
	}
	known := func() bool {
		for _, k := range kws {
			if !c.keywords.names[k] {
				return false
			}
		}
		return true
	}
	if len(kws) == 0 || c.keywords.mailbox == mailbox && known() {
		return nil
	}
	c.keywords = keywordSet{mailbox: mailbox, names: map[string]bool{}}
	err := c.srv.Store.Messages(ctx, c.acct.ID, store.Query{Mailbox: mailbox, FlagsOnly: true}, func(m *store.Message) error {
		for _, f := range m.Flags {
			if !strings.HasPrefix(f, `\`) {
				c.keywords.names[strings.ToLower(f)] = true
			}
		}
		return nil
	})
	if err != nil {
		c.keywords = keywordSet{}
		return fmt.Errorf("reading the mailbox's keywords: %w", err)
	}
	n := len(c.keywords.names)
	for _, k := range kws {
		if !c.keywords.names[k] {
			c.keywords.names[k] = true
			n++
		}
	}
	if maxKw := orDefault(c.srv.MaxKeywords, DefaultMaxKeywords); n > maxKw {
		c.keywords = keywordSet{}
		return errNo("LIMIT", "A mailbox may use at most %d different keywords; remove some that are no longer needed", maxKw)
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
