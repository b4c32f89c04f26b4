package imap

import (
	"context"
	"fmt"

	"casella/internal/store"
)

// QUOTA (RFC 9208). An account has one quota root, named "", holding every
// mailbox. Its STORAGE limit is the account's quota from the directory,
// as read at login: the administrator sets it, so SETQUOTA is refused. The
// directory keeps no limit on the number of messages, so only STORAGE is
// offered (QUOTA=RES-STORAGE); usage comes from the store's exact counters.
//
// APPEND and COPY check the quota before they write. Two sessions racing
// can both pass and overshoot by one command's worth, as SMTP intake can:
// the quota is a soft limit, and never a reason to lose mail.

// quotaRoot is the name of the account's only quota root.
const quotaRoot = ""

// kib converts octets to the 1024-octet units of STORAGE (RFC 9208 section
// 5.1), rounding up so that a non-empty mailbox never shows 0.
func kib(n int64) int64 { return (n + 1023) / 1024 }

// cmdGetQuotaRoot: RFC 9208 section 4.1.2.
func (c *conn) cmdGetQuotaRoot(cmd *command) error {
	name, err := c.mailboxArg()
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
		return fmt.Errorf("getquotaroot %q: %w", name, err)
	}
	e := c.enc()
	e.raw("* QUOTAROOT ").mailbox(mb.Name)
	if c.acct.Quota > 0 {
		e.sp().str(quotaRoot)
	}
	c.writeBytes(e.b)
	if c.acct.Quota > 0 {
		return c.writeQuota(ctx)
	}
	return nil
}

// cmdGetQuota: RFC 9208 section 4.1.1.
func (c *conn) cmdGetQuota(cmd *command) error {
	if err := c.p.sp(); err != nil {
		return err
	}
	root, err := c.p.astring()
	if err != nil {
		return err
	}
	if err := c.p.end(); err != nil {
		return err
	}
	if root != quotaRoot || c.acct.Quota <= 0 {
		return errNo("NONEXISTENT", "No such quota root")
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	return c.writeQuota(ctx)
}

// cmdSetQuota refuses SETQUOTA (RFC 9208 section 4.1.3) once its
// arguments are read: the administrator sets quotas, and QUOTASET is not
// offered.
func (c *conn) cmdSetQuota(cmd *command) error {
	if err := c.setQuotaArgs(); err != nil {
		return err
	}
	return errNo("NOPERM", "Quotas are set by the administrator")
}

// setQuotaArgs reads ` root (resource limit ...)` to the end of the line.
func (c *conn) setQuotaArgs() error {
	if err := c.p.sp(); err != nil {
		return err
	}
	if _, err := c.p.astring(); err != nil {
		return err
	}
	if err := c.p.sp(); err != nil {
		return err
	}
	if err := c.p.expect('(', "list of resource limits"); err != nil {
		return err
	}
	for first := true; ; first = false {
		if ok, err := c.p.take(')'); err != nil {
			return err
		} else if ok {
			break
		}
		if !first {
			if err := c.p.sp(); err != nil {
				return err
			}
		}
		if _, err := c.p.atom(); err != nil {
			return err
		}
		if err := c.p.sp(); err != nil {
			return err
		}
		if _, err := c.p.number64(); err != nil {
			return err
		}
	}
	return c.p.end()
}

// writeQuota writes the QUOTA response of the account's root.
func (c *conn) writeQuota(ctx context.Context) error {
	u, err := c.srv.Store.Usage(ctx, c.acct.ID)
	if err != nil {
		return fmt.Errorf("reading quota usage: %w", err)
	}
	e := c.enc()
	e.raw("* QUOTA ").str(quotaRoot).raw(fmt.Sprintf(" (STORAGE %d %d)", kib(u.Bytes), c.acct.Quota/1024))
	c.writeBytes(e.b)
	return nil
}

// checkQuota fails with OVERQUOTA (RFC 9208 section 4.3.1) when adding
// size octets would take the account over its quota.
func (c *conn) checkQuota(ctx context.Context, size int64) error {
	if c.acct.Quota <= 0 {
		return nil
	}
	u, err := c.srv.Store.Usage(ctx, c.acct.ID)
	if err != nil {
		return fmt.Errorf("reading quota usage: %w", err)
	}
	if u.Bytes+size > c.acct.Quota {
		return errNo("OVERQUOTA", "Not enough room: %d KiB used of %d KiB, delete or expunge some messages", kib(u.Bytes), c.acct.Quota/1024)
	}
	return nil
}

// deletedStorage returns STATUS DELETED-STORAGE (RFC 9208 section 4.1.4):
// the storage EXPUNGE would free, in STORAGE units. The store counts
// \Deleted messages but not their size, so the mailbox is read when it has
// any.
func (c *conn) deletedStorage(ctx context.Context, mb *store.Mailbox) (int64, error) {
	if mb.Deleted == 0 {
		return 0, nil
	}
	var n int64
	err := c.srv.Store.Messages(ctx, c.acct.ID, store.Query{Mailbox: mb.ID}, func(m *store.Message) error {
		if store.HasFlag(m.Flags, store.FlagDeleted) {
			n += m.Size
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("reading deleted messages: %w", err)
	}
	return kib(n), nil
}
