package imap

import (
	"fmt"
	"strings"

	"casella/internal/store"
)

// cmdStore serves STORE and UID STORE (RFC 9051 section 6.4.6), with the
// UNCHANGEDSINCE modifier (RFC 7162 section 3.1.3).
func (c *conn) cmdStore(cmd *command) error {
	if err := c.p.sp(); err != nil {
		return err
	}
	set, err := c.p.seqSet()
	if err != nil {
		return err
	}
	if err := c.p.sp(); err != nil {
		return err
	}
	var unchangedSince uint64
	conditional, err := c.p.take('(')
	if err != nil {
		return err
	} else if conditional {
		name, err := c.p.atom()
		if err != nil {
			return err
		}
		if !strings.EqualFold(name, "UNCHANGEDSINCE") {
			return errSyntax("unknown store modifier %s", name)
		}
		if err := c.p.sp(); err != nil {
			return err
		}
		if unchangedSince, err = c.p.number64(); err != nil {
			return err
		}
		if err := c.p.expect(')', ") after store modifier"); err != nil {
			return err
		}
		if err := c.p.sp(); err != nil {
			return err
		}
		c.condstore = true
	}
	item, err := c.p.atom()
	if err != nil {
		return err
	}
	var op store.FlagOp
	item = strings.ToUpper(item)
	silent := strings.HasSuffix(item, ".SILENT")
	switch strings.TrimSuffix(item, ".SILENT") {
	case "FLAGS":
		op = store.FlagsReplace
	case "+FLAGS":
		op = store.FlagsAdd
	case "-FLAGS":
		op = store.FlagsRemove
	default:
		return errSyntax("expected FLAGS, +FLAGS or -FLAGS, optionally .SILENT, got %s", item)
	}
	if err := c.p.sp(); err != nil {
		return err
	}
	flags, err := c.p.flags()
	if err != nil {
		return err
	}
	if err := c.p.end(); err != nil {
		return err
	}
	v := c.sel
	if v.readOnly {
		return errNo("", "The mailbox is open read-only (EXAMINE), flags cannot change")
	}
	uids, err := v.resolve(set, cmd.uid)
	if err != nil {
		return err
	}
	if len(uids) == 0 {
		return nil
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	var res store.FlagResult
	if conditional && unchangedSince == 0 {
		// Every message has a MODSEQ above 0: all fail (RFC 7162
		// section 3.1.3). The store reads 0 as no condition.
		res.Failed = uids
	} else {
		res, err = c.srv.Store.UpdateFlags(ctx, c.acct.ID, store.FlagUpdate{
			Mailbox: v.mb.ID, UIDs: v.ranges(uids), Op: op, Flags: flags, UnchangedSince: unchangedSince,
		})
		if err != nil {
			return fmt.Errorf("store flags: %w", err)
		}
	}
	if res.Prior != 0 && res.Prior == v.modseq {
		// Nothing had changed the account since the view was current,
		// so the change log up to this write holds only its own changes,
		// which the FETCH responses below report (RFC 9051 section
		// 6.4.6): the sync after the command need not read the log.
		v.modseq, v.current = res.Last, true
	} else {
		for _, m := range res.Changed {
			v.own[m.UID] = m.ModSeq
		}
	}
	if op != store.FlagsRemove && len(res.Changed) > 0 {
		c.learnKeywords(flags)
	}
	if len(res.Failed) > 0 {
		// RFC 7162 section 3.1.3: the MODIFIED code lists what failed.
		var failed []uint32
		for _, uid := range res.Failed {
			if cmd.uid {
				failed = append(failed, uid)
			} else if s := v.seq(uid); s != 0 {
				failed = append(failed, s)
			}
		}
		cmd.code = "MODIFIED " + formatSet(failed)
		cmd.text = "Some messages were modified since"
	}
	if silent {
		if c.condstore {
			// The new MODSEQs, even with .SILENT (RFC 7162 section
			// 3.1.3, example 6), so the client need not fetch them.
			for i := range res.Changed {
				c.writeStoreFetch(cmd, &res.Changed[i], false)
			}
		}
		return nil
	}
	// Every message the command named gets its flags back, changed or not
	// (section 6.4.6); failed ones too, so the client learns their state.
	// When the store changed them all, it returned them as they are now,
	// and reading them again would only add a read to every STORE.
	msgs := res.Changed
	if !allOf(msgs, uids) {
		if msgs, err = c.loadMessages(ctx, uids, store.Query{}); err != nil {
			return err
		}
	}
	for i := range msgs {
		c.writeStoreFetch(cmd, &msgs[i], true)
	}
	return nil
}

// allOf reports whether msgs are exactly the messages with the given UIDs.
func allOf(msgs []store.Message, uids []uint32) bool {
	if len(msgs) != len(uids) {
		return false
	}
	want := make(map[uint32]bool, len(uids))
	for _, u := range uids {
		want[u] = true
	}
	for _, m := range msgs {
		if !want[m.UID] {
			return false
		}
	}
	return true
}

// writeStoreFetch writes the FETCH response of STORE for one message: its
// flags unless .SILENT, and its MODSEQ once CONDSTORE is enabled.
func (c *conn) writeStoreFetch(cmd *command, m *store.Message, flags bool) {
	e := c.enc()
	byUID := c.fetchHead(e, c.sel.seq(m.UID), m.UID)
	sep := ""
	if cmd.uid && !byUID {
		e.raw("UID ").num(m.UID)
		sep = " "
	}
	if flags {
		e.raw(sep + "FLAGS ").flagList(c.flagsOf(m))
		sep = " "
	}
	if c.condstore {
		e.raw(fmt.Sprintf("%sMODSEQ (%d)", sep, m.ModSeq))
	}
	c.writeBytes(e.raw(")").b)
}

// formatSet writes numbers as a sequence set in their given order,
// merging ascending runs: 1:3,7. COPYUID pairs its two sets element by
// element, so the order matters.
func formatSet(nums []uint32) string {
	var b strings.Builder
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, nums[i])
		if j > i {
			fmt.Fprintf(&b, ":%d", nums[j])
		}
		i = j + 1
	}
	return b.String()
}
