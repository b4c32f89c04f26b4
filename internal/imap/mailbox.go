package imap

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"casella/internal/store"
)

// cmdCreate: RFC 9051 section 6.3.4, with the USE parameter of
// CREATE-SPECIAL-USE (RFC 6154 section 3), answering MAILBOXID (RFC 8474
// section 4.1).
func (c *conn) cmdCreate(cmd *command) error {
	name, err := c.mailboxArg()
	if err != nil {
		return err
	}
	use, err := c.createParams()
	if err != nil {
		return err
	}
	if err := c.p.end(); err != nil {
		return err
	}
	// A trailing separator only says that children will follow.
	name = strings.TrimSuffix(name, store.Separator)
	if name == store.Inbox {
		return errNo("ALREADYEXISTS", "INBOX always exists")
	}
	special := ""
	switch len(use) {
	case 0:
	case 1:
		special = canonicalUse(use[0])
		if special == "" {
			return errNo("USEATTR", "Special use %s is not supported", use[0])
		}
	default:
		return errNo("USEATTR", "A mailbox can have only one special use")
	}
	if err := c.checkMailboxName(name); err != nil {
		return err
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	if err := c.checkMailboxCount(ctx, name); err != nil {
		return err
	}
	mb, err := c.srv.Store.CreateMailbox(ctx, c.acct.ID, name, special)
	if err != nil {
		return fmt.Errorf("create %q: %w", name, err)
	}
	cmd.code = "MAILBOXID (" + mailboxID(&mb) + ")"
	return nil
}

// createParams reads CREATE's optional parameter list: only
// "USE (attrs)" (RFC 6154 section 3, RFC 4466 section 2.2 syntax).
func (c *conn) createParams() ([]string, error) {
	if ok, err := c.p.take(' '); err != nil || !ok {
		return nil, err
	}
	if err := c.p.expect('(', "create parameters"); err != nil {
		return nil, err
	}
	word, err := c.p.atom()
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(word, "USE") {
		return nil, errSyntax("unknown create parameter %s", word)
	}
	if err := c.p.sp(); err != nil {
		return nil, err
	}
	if err := c.p.expect('(', "list of special-use attributes"); err != nil {
		return nil, err
	}
	var use []string
	for {
		if ok, err := c.p.take(')'); err != nil {
			return nil, err
		} else if ok {
			break
		}
		if len(use) > 0 {
			if err := c.p.sp(); err != nil {
				return nil, err
			}
		}
		if err := c.p.expect('\\', "special-use attribute"); err != nil {
			return nil, err
		}
		a, err := c.p.atom()
		if err != nil {
			return nil, err
		}
		use = append(use, `\`+a)
	}
	return use, c.p.expect(')', ") closing create parameters")
}

// canonicalUse returns the store's spelling of a special-use attribute,
// or "" when the store does not know it.
func canonicalUse(attr string) string {
	for _, u := range []string{store.UseAll, store.UseArchive, store.UseDrafts, store.UseFlagged, store.UseJunk, store.UseSent, store.UseTrash} {
		if strings.EqualFold(u, attr) {
			return u
		}
	}
	return ""
}

// cmdDelete: section 6.3.5.
func (c *conn) cmdDelete(cmd *command) error {
	name, err := c.mailboxArg()
	if err != nil {
		return err
	}
	if err := c.p.end(); err != nil {
		return err
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	if err := c.srv.Store.DeleteMailbox(ctx, c.acct.ID, name); err != nil {
		return fmt.Errorf("delete %q: %w", name, err)
	}
	if c.sel != nil && c.sel.mb.Name == name {
		// The session deleted its own mailbox: it returns to the
		// authenticated state and is answered, where another session
		// with the mailbox selected gets BYE (view.go).
		c.unselect()
	}
	return nil
}

// cmdRename: section 6.3.6.
func (c *conn) cmdRename(cmd *command) error {
	from, err := c.mailboxArg()
	if err != nil {
		return err
	}
	to, err := c.mailboxArg()
	if err != nil {
		return err
	}
	if err := c.p.end(); err != nil {
		return err
	}
	to = strings.TrimSuffix(to, store.Separator)
	ctx, cancel := c.commandContext()
	defer cancel()
	if err := c.checkRename(ctx, from, to); err != nil {
		return err
	}
	if err := c.srv.Store.RenameMailbox(ctx, c.acct.ID, from, to); err != nil {
		return fmt.Errorf("rename %q to %q: %w", from, to, err)
	}
	return nil
}

// cmdSubscribe serves SUBSCRIBE and UNSUBSCRIBE (sections 6.3.7, 6.3.8).
func (c *conn) cmdSubscribe(cmd *command) error {
	name, err := c.mailboxArg()
	if err != nil {
		return err
	}
	if err := c.p.end(); err != nil {
		return err
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	if err := c.srv.Store.Subscribe(ctx, c.acct.ID, name, cmd.name == "SUBSCRIBE"); err != nil {
		return fmt.Errorf("%s %q: %w", strings.ToLower(cmd.name), name, err)
	}
	return nil
}

// mailboxArg reads "SP mailbox".
func (c *conn) mailboxArg() (string, error) {
	if err := c.p.sp(); err != nil {
		return "", err
	}
	return c.p.mailbox(c.utf8)
}

// cmdNamespace: RFC 2342; one personal namespace, no others.
func (c *conn) cmdNamespace(cmd *command) error {
	if err := c.p.end(); err != nil {
		return err
	}
	c.writeLine(`* NAMESPACE (("" "%s")) NIL NIL`, store.Separator)
	return nil
}

// statusItems are the STATUS data items (RFC 9051 section 6.3.11, RFC 8438
// SIZE, RFC 7162 HIGHESTMODSEQ, RFC 8474 MAILBOXID, RFC 7889 APPENDLIMIT,
// RFC 9208 DELETED-STORAGE).
var statusItems = []string{"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT",
	"HIGHESTMODSEQ", "MAILBOXID", "APPENDLIMIT", "DELETED-STORAGE"}

// statusList reads "(" status-att *(SP status-att) ")".
func (c *conn) statusList() ([]string, error) {
	if err := c.p.expect('(', "list of status items"); err != nil {
		return nil, err
	}
	var items []string
	for {
		a, err := c.p.atom()
		if err != nil {
			return nil, err
		}
		a = strings.ToUpper(a)
		if !slices.Contains(statusItems, a) {
			return nil, errSyntax("unknown status item %s", a)
		}
		if a == "HIGHESTMODSEQ" {
			c.condstore = true // an enabling command (RFC 7162 section 3.1)
		}
		items = append(items, a)
		if ok, err := c.p.take(')'); err != nil || ok {
			return items, err
		}
		if err := c.p.sp(); err != nil {
			return nil, err
		}
	}
}

// cmdStatus: section 6.3.11.
func (c *conn) cmdStatus(cmd *command) error {
	name, err := c.mailboxArg()
	if err != nil {
		return err
	}
	if err := c.p.sp(); err != nil {
		return err
	}
	items, err := c.statusList()
	if err != nil {
		return err
	}
	if err := c.p.end(); err != nil {
		return err
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	mb, err := c.srv.Store.Mailbox(ctx, c.acct.ID, name)
	if err != nil {
		return fmt.Errorf("status %q: %w", name, err)
	}
	return c.writeStatus(ctx, &mb, items)
}

func (c *conn) writeStatus(ctx context.Context, mb *store.Mailbox, items []string) error {
	e := c.enc()
	e.raw("* STATUS ").mailbox(mb.Name).raw(" (")
	for i, it := range items {
		if i > 0 {
			e.sp()
		}
		e.raw(it).sp()
		switch it {
		case "MESSAGES":
			e.num64(int64(mb.Messages))
		case "UIDNEXT":
			e.num(mb.UIDNext)
		case "UIDVALIDITY":
			e.num(mb.UIDValidity)
		case "UNSEEN":
			e.num64(int64(mb.Unseen))
		case "DELETED":
			e.num64(int64(mb.Deleted))
		case "SIZE":
			e.num64(mb.Size)
		case "RECENT":
			n, err := c.unclaimedRecent(ctx, mb)
			if err != nil {
				return err
			}
			e.num64(int64(n))
		case "HIGHESTMODSEQ":
			e.raw(fmt.Sprint(mb.HighestModSeq))
		case "MAILBOXID":
			e.raw("(" + mailboxID(mb) + ")")
		case "APPENDLIMIT":
			e.num64(c.srv.maxLiteral())
		case "DELETED-STORAGE":
			n, err := c.deletedStorage(ctx, mb)
			if err != nil {
				return err
			}
			e.num64(n)
		}
	}
	c.writeBytes(e.raw(")").b)
	return nil
}
