package imap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"casella/internal/store"
)

// cmdESearch serves ESEARCH (RFC 7377): SEARCH in several mailboxes at
// once, each answered with UIDs in an ESEARCH response that names the
// mailbox. Mailboxes other than the selected one are searched through a
// read-only view built for the command, which claims no \Recent.
func (c *conn) cmdESearch(cmd *command) error {
	var ret searchReturn
	sources, root, err := c.parseESearch(&ret)
	if err != nil {
		return err
	}
	if ret.save || ret.update {
		// A saved or updated result belongs to one mailbox (RFC 7377
		// section 2).
		return errBad("", "ESEARCH cannot SAVE or UPDATE a result")
	}
	if !ret.esearch {
		ret.list = true // no RETURN means ALL (RFC 4731 section 3.1)
	}
	ret.esearch = true
	if sources == nil {
		// Without IN the selected mailbox is searched (RFC 7377
		// section 2).
		if c.sel == nil {
			return errBad("", "ESEARCH without IN needs a selected mailbox")
		}
		sources = []mailboxFilter{{kind: "SELECTED"}}
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	names, err := c.filterMailboxes(ctx, sources)
	if err != nil {
		return err
	}
	bySeq := root.uses(func(k *searchKey) bool { return k.op == "SEQ" || k.set.saved })
	if bySeq && slices.ContainsFunc(names, func(n string) bool { return c.sel == nil || n != c.sel.mb.Name }) {
		return errBad("", "Message sequence numbers and $ refer to the selected mailbox only")
	}
	useModSeq := root.uses(func(k *searchKey) bool { return k.op == "MODSEQ" })
	if useModSeq {
		c.condstore = true // an enabling command (RFC 7162 section 3.1)
	}
	now := time.Now()
	for _, name := range names {
		if err := c.esearchMailbox(ctx, cmd, name, root, &ret, useModSeq, now); err != nil {
			return err
		}
	}
	return nil
}

// parseESearch reads "SP [IN (...) SP] [RETURN (...) SP] search-program"
// to the end of the line (RFC 7377 section 6).
func (c *conn) parseESearch(ret *searchReturn) ([]mailboxFilter, *searchKey, error) {
	if err := c.p.sp(); err != nil {
		return nil, nil, err
	}
	sources, err := c.esearchSources()
	if err != nil {
		return nil, nil, err
	}
	first, err := c.searchPrefix(ret)
	if err != nil {
		return nil, nil, err
	}
	root, err := c.p.searchKeys(first)
	if err != nil {
		return nil, nil, err
	}
	return sources, root, c.p.end()
}

// esearchMailbox searches one mailbox and writes its ESEARCH response,
// none when nothing matched. A mailbox deleted meanwhile is skipped.
func (c *conn) esearchMailbox(ctx context.Context, cmd *command, name string, root *searchKey, ret *searchReturn, useModSeq bool, now time.Time) error {
	v := c.sel
	if v == nil || v.mb.Name != name {
		mb, err := c.srv.Store.Mailbox(ctx, c.acct.ID, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("esearch %q: %w", name, err)
		}
		uids, err := c.srv.Store.UIDs(ctx, c.acct.ID, mb.ID)
		if err != nil {
			return fmt.Errorf("esearch %q: listing messages: %w", name, err)
		}
		v = &view{mb: mb, readOnly: true, uids: uids, exists: len(uids),
			expunged: map[uint32]bool{}, changed: map[uint32]bool{}, own: map[uint32]uint64{}, recent: map[uint32]bool{}}
	}
	var uids []uint32
	var modseqs []uint64
	selected := c.sel
	c.sel = v // eachMatch and the keys it tests read the view
	err := c.eachMatch(ctx, root, store.Query{}, now, func(m *store.Message, _ uint32) {
		uids = append(uids, m.UID)
		if useModSeq {
			modseqs = append(modseqs, m.ModSeq)
		}
	})
	c.sel = selected
	if err != nil || len(uids) == 0 {
		return err
	}
	e := c.enc()
	e.raw("* ESEARCH (TAG ").str(cmd.tag).raw(" MAILBOX ").mailbox(v.mb.Name).raw(" UIDVALIDITY ").num(v.mb.UIDValidity).raw(") UID")
	esearchData(e, ret, uids, modseqs)
	c.writeBytes(e.b)
	return nil
}

// mailboxFilter is one source of ESEARCH's IN: a filter-mailboxes of
// RFC 5465 section 8 or subtree-one (RFC 7377 section 3).
type mailboxFilter struct {
	kind  string // upper case: SELECTED, INBOXES, PERSONAL, SUBSCRIBED, SUBTREE, SUBTREE-ONE, MAILBOXES
	names []string
}

// esearchSources reads "IN" SP "(" filter *(SP filter) [SP "(" scope
// options ")"] ")" SP, when present, and returns nil when not.
func (c *conn) esearchSources() ([]mailboxFilter, error) {
	if b, err := c.p.r.Peek(3); err != nil || !strings.EqualFold(string(b), "IN ") {
		return nil, nil
	}
	if _, err := c.p.atom(); err != nil {
		return nil, err
	}
	if err := c.p.sp(); err != nil {
		return nil, err
	}
	if err := c.p.expect('(', "list of source mailboxes"); err != nil {
		return nil, err
	}
	var filters []mailboxFilter
	for {
		if ch, err := c.p.peek(); err != nil {
			return nil, err
		} else if ch == '(' {
			// No scope option is defined; any given is unknown.
			return nil, errSyntax("unknown ESEARCH scope option")
		}
		word, err := c.p.atom()
		if err != nil {
			return nil, err
		}
		f := mailboxFilter{kind: strings.ToUpper(word)}
		switch f.kind {
		case "SELECTED", "SELECTED-DELAYED":
			f.kind = "SELECTED"
		case "INBOXES", "PERSONAL", "SUBSCRIBED":
		case "SUBTREE", "SUBTREE-ONE", "MAILBOXES":
			if err := c.p.sp(); err != nil {
				return nil, err
			}
			if f.names, err = c.mailboxes(); err != nil {
				return nil, err
			}
		default:
			return nil, errSyntax("unknown source mailboxes %s", word)
		}
		filters = append(filters, f)
		if ok, err := c.p.take(')'); err != nil {
			return nil, err
		} else if ok {
			return filters, c.p.sp()
		}
		if err := c.p.sp(); err != nil {
			return nil, err
		}
	}
}

// mailboxes reads one-or-more-mailbox (RFC 5465 section 8): a mailbox or
// a parenthesised list of them.
func (c *conn) mailboxes() ([]string, error) {
	var names []string
	err := c.p.oneOrList(func(bool) error {
		name, err := c.p.mailbox(c.utf8)
		if err != nil {
			return err
		}
		names = append(names, name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return names, nil
}

// filterMailboxes returns the names of the existing mailboxes the filters
// select, each once, in the order the filters name them.
func (c *conn) filterMailboxes(ctx context.Context, filters []mailboxFilter) ([]string, error) {
	var all []store.Mailbox
	needAll := slices.ContainsFunc(filters, func(f mailboxFilter) bool { return f.kind != "SELECTED" })
	if needAll {
		var err error
		if all, err = c.srv.Store.Mailboxes(ctx, c.acct.ID); err != nil {
			return nil, fmt.Errorf("listing mailboxes: %w", err)
		}
	}
	var names []string
	add := func(name string) {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	for _, f := range filters {
		switch f.kind {
		case "SELECTED":
			if c.sel != nil {
				add(c.sel.mb.Name)
			}
		case "INBOXES":
			// Delivery files into INBOX; Sieve may file elsewhere, but
			// which mailboxes it uses is not known ahead.
			add("INBOX")
		case "MAILBOXES":
			for _, name := range f.names {
				if slices.ContainsFunc(all, func(mb store.Mailbox) bool { return mb.Name == name }) {
					add(name)
				}
			}
		}
		for _, mb := range all {
			switch f.kind {
			case "PERSONAL":
				add(mb.Name)
			case "SUBSCRIBED":
				if mb.Subscribed {
					add(mb.Name)
				}
			case "SUBTREE", "SUBTREE-ONE":
				for _, root := range f.names {
					rest, under := strings.CutPrefix(mb.Name, root+store.Separator)
					if mb.Name == root || under && (f.kind == "SUBTREE" || !strings.Contains(rest, store.Separator)) {
						add(mb.Name)
					}
				}
			}
		}
	}
	return names, nil
}
