package imap

import (
	"context"
	"fmt"
	"math"
	"slices"

	"casella/internal/store"
)

// QRESYNC (RFC 7162 section 3.2). The store's change log keeps every
// expunged UID with the MODSEQ of its expunge, for the life of the
// mailbox, so the server always knows exactly what vanished since any
// MODSEQ: the seq-match-data a client sends to help a server with a
// shorter memory (section 3.2.5.2) is parsed and not needed.

// qresyncParam is the QRESYNC parameter of SELECT and EXAMINE
// (section 3.2.5).
type qresyncParam struct {
	uidValidity uint32
	modseq      uint64
	known       *seqSet // UIDs the client knows; nil: all of them
}

// parseQresync reads ` (uidvalidity modseq [known-uids] [seq-match-data])`
// after the word QRESYNC.
func (c *conn) parseQresync() (*qresyncParam, error) {
	if !c.qresync {
		// Section 3.2.5: BAD unless the client enabled QRESYNC.
		return nil, errBad("", "QRESYNC must be enabled first (ENABLE QRESYNC)")
	}
	if err := c.p.sp(); err != nil {
		return nil, err
	}
	if err := c.p.expect('(', "QRESYNC parameters"); err != nil {
		return nil, err
	}
	q := &qresyncParam{}
	var err error
	if q.uidValidity, err = c.p.nzNumber(); err != nil {
		return nil, err
	}
	if err := c.p.sp(); err != nil {
		return nil, err
	}
	if q.modseq, err = c.p.number64(); err != nil {
		return nil, err
	}
	for range 2 {
		if ok, err := c.p.take(' '); err != nil {
			return nil, err
		} else if !ok {
			break
		}
		if ok, err := c.p.take('('); err != nil {
			return nil, err
		} else if ok {
			if err := c.seqMatchData(); err != nil {
				return nil, err
			}
			if c.uidonly {
				// It pairs sequence numbers with UIDs (RFC 9586 section 3).
				return nil, errUIDRequired("QRESYNC's sequence match data holds sequence numbers")
			}
			break
		}
		if q.known != nil {
			return nil, errSyntax("QRESYNC takes one set of known UIDs")
		}
		set, err := c.p.seqSet()
		if err != nil {
			return nil, err
		}
		if set.saved {
			return nil, errSyntax("$ is not allowed in QRESYNC known UIDs")
		}
		q.known = &set
	}
	return q, c.p.expect(')', ") closing QRESYNC parameters")
}

// seqMatchData reads `sequence-set SP uid-set)` after "(" and drops it.
func (c *conn) seqMatchData() error {
	if _, err := c.p.seqSet(); err != nil {
		return err
	}
	if err := c.p.sp(); err != nil {
		return err
	}
	if _, err := c.p.seqSet(); err != nil {
		return err
	}
	return c.p.expect(')', ") closing sequence match data")
}

// resync writes what changed in the selected mailbox since the client's
// MODSEQ: VANISHED (EARLIER) with the UIDs expunged since, then FETCH
// with the flags of the messages changed since (section 3.2.5.1), both
// limited to the UIDs the client knows.
func (c *conn) resync(ctx context.Context, q *qresyncParam, changed []store.Message) error {
	known := func(uid uint32) bool { return q.known == nil || inSet(*q.known, uid, math.MaxUint32) }
	if err := c.writeVanishedEarlier(ctx, q.modseq, known); err != nil {
		return err
	}
	for i := range changed {
		m := &changed[i]
		if seq := c.sel.seq(m.UID); seq != 0 && known(m.UID) {
			c.writeFlags(seq, m)
		}
	}
	return nil
}

// writeVanishedEarlier writes VANISHED (EARLIER) with the UIDs for which
// in is true that were expunged after MODSEQ since (section 3.2.10).
// UIDs still in the view are left out: their expunge has not been
// announced yet, and will be with a plain VANISHED, which also tells the
// client to renumber.
func (c *conn) writeVanishedEarlier(ctx context.Context, since uint64, in func(uint32) bool) error {
	v := c.sel
	var gone []uint32
	for {
		changes, _, err := c.srv.Store.Changes(ctx, c.acct.ID, v.mb.ID, since, changesBatch)
		if err != nil {
			return fmt.Errorf("reading expunged messages: %w", err)
		}
		for _, ch := range changes {
			since = ch.ModSeq
			if ch.Kind == store.MessageExpunged && v.seq(ch.UID) == 0 && in(ch.UID) {
				gone = append(gone, ch.UID)
			}
		}
		if len(changes) < changesBatch {
			break
		}
	}
	if len(gone) == 0 {
		return nil
	}
	slices.Sort(gone)
	c.writeLine("* VANISHED (EARLIER) %s", formatSet(slices.Compact(gone)))
	return nil
}
