package imap

import (
	"context"
	"fmt"
	"strings"
	"time"

	"casella/internal/message"
	"casella/internal/store"
)

// eachMatch calls fn, in mailbox order, for each message of the selected
// mailbox that matches the search criteria root (RFC 9051 section 6.4.4).
// SEARCH, SORT and THREAD share it. load says what fn needs beyond what
// the criteria need: WithMeta, WithSortKeys; now is the command's start,
// for OLDER and YOUNGER (RFC 5032). Metadata the store lacks is
// parsed from the message when it is needed.
func (c *conn) eachMatch(ctx context.Context, root *searchKey, load store.Query, now time.Time, fn func(m *store.Message, seq uint32)) error {
	if c.uidonly && root.uses(func(k *searchKey) bool { return k.op == "SEQ" && !k.set.saved }) {
		return errUIDRequired("a search key is a sequence set")
	}
	load.WithMeta = load.WithMeta || root.uses(func(k *searchKey) bool {
		switch k.op {
		case "BCC", "CC", "FROM", "SUBJECT", "TO", "SENTBEFORE", "SENTON", "SENTSINCE", "BODY", "TEXT":
			return true
		}
		return false
	})
	needBlob := root.uses(func(k *searchKey) bool { return k.op == "BODY" || k.op == "TEXT" || k.op == "HEADER" })
	// One store read streams the whole mailbox; fn runs with nothing held
	// in the store, so reading blobs from it is fine.
	v, pos := c.sel, 0
	return c.eachMessage(ctx, v.uids, load, func(m *store.Message) error {
		for v.uids[pos] != m.UID {
			pos++
		}
		var raw []byte
		if needBlob || load.WithMeta && m.Meta == nil {
			var err error
			if raw, err = c.blobs.Get(ctx, m.Blob); err != nil {
				return fmt.Errorf("reading message uid %d: %w", m.UID, err)
			}
			if m.Meta == nil {
				mm := *m // the store's value is only ours to read
				mm.Meta = message.Parse(raw)
				m = &mm
			}
		}
		if c.matches(root, &candidate{m: m, seq: uint32(pos + 1), raw: raw, now: now}) {
			fn(m, uint32(pos+1))
		}
		return nil
	})
}

// checkCharset accepts the charsets a search string may be in; strings
// are compared as UTF-8, of which US-ASCII is a subset.
func checkCharset(cs string) error {
	if !strings.EqualFold(cs, "UTF-8") && !strings.EqualFold(cs, "US-ASCII") {
		return errNo("BADCHARSET (UTF-8 US-ASCII)", "Charset %s is not supported, use UTF-8", cs)
	}
	return nil
}
