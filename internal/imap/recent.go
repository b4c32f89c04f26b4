package imap

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"casella/internal/store"
)

// The IMAP4rev1 \Recent flag (RFC 3501 section 2.3.2): a message is recent
// in the first session to select its mailbox after it arrived, and in no
// other. The claim lives in the store (store.Store.ClaimRecent), so that
// sessions on several nodes of a cluster never share a message's \Recent,
// and a restart forgets nothing. EXAMINE claims nothing (RFC 3501 section
// 6.3.2): it shows as recent what no session has claimed yet. IMAP4rev2
// dropped the flag (RFC 9051 appendix E), so a rev2 session neither
// claims nor shows it, and leaves the messages recent for a rev1 session.

// claimRecentOf returns the UIDs among uids (ascending) that are recent in
// this session, claiming them unless the mailbox is open read-only.
func (c *conn) claimRecentOf(ctx context.Context, v *view, mark uint32, uids []uint32) ([]uint32, error) {
	if c.rev2 || len(uids) == 0 {
		return nil, nil
	}
	if !v.readOnly {
		old, err := c.srv.Store.ClaimRecent(ctx, c.acct.ID, v.mb.ID, uids[len(uids)-1])
		if err != nil {
			return nil, fmt.Errorf("claiming recent messages: %w", err)
		}
		mark = old
	}
	i, found := slices.BinarySearch(uids, mark)
	if found {
		i++
	}
	return uids[i:], nil
}

// claimRecent gives this session the \Recent flag of the messages the
// change log added that no session claimed before.
func (c *conn) claimRecent(ctx context.Context) error {
	v := c.sel
	// Messages this session appended may be recent in it already, claimed
	// by the append (appendTo).
	v.added = slices.DeleteFunc(v.added, func(uid uint32) bool { return v.recent[uid] })
	if len(v.added) == 0 || c.rev2 {
		v.added = v.added[:0]
		return nil
	}
	slices.Sort(v.added)
	var mark uint32
	if v.readOnly {
		mb, err := c.srv.Store.Mailbox(ctx, c.acct.ID, v.mb.Name)
		switch {
		case errors.Is(err, store.ErrNotFound) || err == nil && mb.ID != v.mb.ID:
			// Renamed or deleted meanwhile: nothing to show as recent.
			mark = math.MaxUint32
		case err != nil:
			return fmt.Errorf("reading recent mark: %w", err)
		default:
			mark = mb.RecentMark
		}
	}
	uids, err := c.claimRecentOf(ctx, v, mark, v.added)
	if err != nil {
		return err
	}
	for _, uid := range uids {
		if v.seq(uid) != 0 {
			v.recent[uid] = true
		}
	}
	v.added = v.added[:0]
	return nil
}

// flagsOf returns a message's flags as this session shows them: with
// \Recent for an IMAP4rev1 client.
func (c *conn) flagsOf(m *store.Message) []string {
	c.learnKeywords(m.Flags)
	if c.rev2 || c.sel == nil || !c.sel.recent[m.UID] {
		return m.Flags
	}
	return append(slices.Clip(m.Flags), `\Recent`)
}

// unclaimedRecent counts the messages of a mailbox that would be \Recent
// for the next session to select it, for STATUS RECENT.
func (c *conn) unclaimedRecent(ctx context.Context, mb *store.Mailbox) (int, error) {
	if mb.RecentMark+1 >= mb.UIDNext {
		return 0, nil
	}
	n := 0
	q := store.Query{Mailbox: mb.ID, UIDs: []store.UIDRange{{First: mb.RecentMark + 1}}, FlagsOnly: true}
	if err := c.srv.Store.Messages(ctx, c.acct.ID, q, func(*store.Message) error { n++; return nil }); err != nil {
		return 0, fmt.Errorf("counting recent messages: %w", err)
	}
	return n, nil
}
