package imap

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"casella/internal/store"
)

// recentMarks hands out the IMAP4rev1 \Recent flag (RFC 3501 section
// 2.3.2): a message is recent in the first session told about it, and in
// no other. IMAP4rev2 dropped the flag (RFC 9051 appendix E), so the store
// does not keep it; the Server keeps it in memory instead: per mailbox,
// the highest UID a session has claimed. \Recent is only a hint to
// clients, so two approximations are accepted:
//   - after a restart, the messages already in a mailbox when it is first
//     selected are not recent;
//   - front ends of a cluster each keep their own marks, so a message may
//     be recent in one session per front end.
type recentMarks struct {
	mu   sync.Mutex
	mark map[int64]uint32 // mailbox ID -> highest UID claimed
}

// claim returns the UIDs (ascending) above the mailbox's mark, the ones
// recent for the caller, and unless peek moves the mark past them. first is
// the mark to start from when the mailbox has none yet: the highest UID
// that existed before the caller looked.
func (r *recentMarks) claim(mailbox int64, first uint32, uids []uint32, peek bool) []uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	mark, ok := r.mark[mailbox]
	if !ok {
		mark = first
	}
	i, _ := slices.BinarySearch(uids, mark+1)
	recent := uids[i:]
	if !peek {
		if r.mark == nil {
			r.mark = map[int64]uint32{}
		}
		if len(recent) > 0 {
			mark = max(mark, recent[len(recent)-1])
		}
		r.mark[mailbox] = mark
	}
	return recent
}

// unclaimed returns the mailbox's mark: UIDs above it are recent for the
// next session to see them. ok is false when no session saw the mailbox.
func (r *recentMarks) unclaimed(mailbox int64) (mark uint32, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	mark, ok = r.mark[mailbox]
	return mark, ok
}

// claimRecent gives this session the \Recent flag of the messages the
// change log added that no session saw before.
func (c *conn) claimRecent() {
	v := c.sel
	if len(v.added) == 0 {
		return
	}
	slices.Sort(v.added)
	for _, uid := range c.srv.recent.claim(v.mb.ID, v.added[0]-1, v.added, v.readOnly) {
		if v.seq(uid) != 0 {
			v.recent[uid] = true
		}
	}
	v.added = v.added[:0]
}

// flagsOf returns a message's flags as this session shows them: with
// \Recent for an IMAP4rev1 client.
func (c *conn) flagsOf(m *store.Message) []string {
	if c.rev2 || c.sel == nil || !c.sel.recent[m.UID] {
		return m.Flags
	}
	return append(slices.Clip(m.Flags), `\Recent`)
}

// unclaimedRecent counts the messages of a mailbox that would be \Recent
// for the next session to select it, for STATUS RECENT.
func (c *conn) unclaimedRecent(ctx context.Context, mb *store.Mailbox) (int, error) {
	mark, ok := c.srv.recent.unclaimed(mb.ID)
	if !ok || mark+1 >= mb.UIDNext {
		return 0, nil
	}
	n := 0
	q := store.Query{Mailbox: mb.ID, UIDs: []store.UIDRange{{First: mark + 1}}}
	if err := c.srv.Store.Messages(ctx, c.acct.ID, q, func(*store.Message) error { n++; return nil }); err != nil {
		return 0, fmt.Errorf("counting recent messages: %w", err)
	}
	return n, nil
}
