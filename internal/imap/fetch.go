package imap

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"casella/internal/message"
	"casella/internal/store"
)

// fetchBatch is how many messages are read from the store, and their
// blobs, before their responses are written.
const fetchBatch = 128

// rowBatch replaces fetchBatch when no message bytes are read: the rows
// are small, and fewer, larger store reads make a scan of a large mailbox
// several times faster.
const rowBatch = 1000

// fetchAtt is one FETCH data item (RFC 9051 section 6.4.5).
type fetchAtt struct {
	name    string // FLAGS, UID, BODY[], BINARY[], BINARY.SIZE[], RFC822.HEADER, ...
	peek    bool
	sec     section
	partial bool
	offset  int64
	count   int64
}

// needsBlob reports whether the item reads the message's bytes.
func (a *fetchAtt) needsBlob() bool {
	switch a.name {
	case "BODY[]", "BINARY[]", "BINARY.SIZE[]", "RFC822", "RFC822.HEADER", "RFC822.TEXT":
		return true
	}
	return false
}

// setsSeen reports whether fetching the item sets \Seen (section 6.4.5).
func (a *fetchAtt) setsSeen() bool {
	return !a.peek && (a.name == "BODY[]" || a.name == "BINARY[]" || a.name == "RFC822" || a.name == "RFC822.TEXT")
}

// fetchArgs are the parsed arguments of FETCH.
type fetchArgs struct {
	set          seqSet
	atts         []fetchAtt
	changedSince uint64 // CHANGEDSINCE (RFC 7162 section 3.1.4.1)
	vanished     bool   // VANISHED (RFC 7162 section 3.2.6)
}

// cmdFetch serves FETCH and UID FETCH.
func (c *conn) cmdFetch(cmd *command) error {
	a, err := c.parseFetch(cmd)
	if err != nil {
		return err
	}
	return c.runFetch(cmd, a)
}

// runFetch answers a parsed FETCH; NOTIFY's MessageNew uses it too.
func (c *conn) runFetch(cmd *command, a *fetchArgs) error {
	v := c.sel
	uids, err := v.resolve(a.set, cmd.uid)
	if err != nil {
		return err
	}
	var needBlob, needMeta, setSeen bool
	flagsOnly := true // what a client syncing flags asks for: FLAGS, UID, MODSEQ
	for _, att := range a.atts {
		flagsOnly = flagsOnly && (att.name == "FLAGS" || att.name == "UID" || att.name == "MODSEQ")
		needBlob = needBlob || att.needsBlob()
		needMeta = needMeta || att.name == "ENVELOPE" || att.name == "BODYSTRUCTURE" || att.name == "BODY" || att.name == "PREVIEW" ||
			att.name == "BINARY[]" || att.name == "BINARY.SIZE[]" || att.name == "BODY[]" && len(att.sec.part) > 0
		setSeen = setSeen || att.setsSeen() && !v.readOnly
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	if a.vanished {
		// Before the FETCH responses (RFC 7162 section 3.2.6).
		in := func(uid uint32) bool { return inSet(a.set, uid, math.MaxUint32) }
		if a.set.saved {
			in = v.isSaved
		}
		if err := c.writeVanishedEarlier(ctx, a.changedSince, in); err != nil {
			return err
		}
	}
	e, pos := c.enc(), 0
	// write answers for one message. Messages come ascending and in the
	// view: one walk finds their sequence numbers.
	write := func(m *store.Message, raw []byte, seen bool) error {
		for v.uids[pos] != m.UID {
			pos++
		}
		return c.writeFetch(cmd, a, e, uint32(pos+1), m, raw, seen)
	}
	if flagsOnly {
		// What a client syncing flags asks for, often of every message:
		// the responses stream from one store read, with no blob to get
		// and no \Seen to set.
		return c.eachMessage(ctx, uids, store.Query{FlagsOnly: true}, func(m *store.Message) error {
			if a.changedSince > 0 && m.ModSeq <= a.changedSince {
				return nil
			}
			return write(m, nil, false)
		})
	}
	size := fetchBatch
	if !needBlob && !needMeta {
		size = rowBatch
	}
	for len(uids) > 0 {
		n := min(len(uids), size)
		batch := uids[:n]
		uids = uids[n:]
		msgs, err := c.loadMessages(ctx, batch, store.Query{WithMeta: needMeta, FlagsOnly: flagsOnly})
		if err != nil {
			return err
		}
		if a.changedSince > 0 {
			msgs = slices.DeleteFunc(msgs, func(m store.Message) bool { return m.ModSeq <= a.changedSince })
		}
		raws := make([][]byte, len(msgs))
		for i := range msgs {
			m := &msgs[i]
			if needBlob || needMeta && m.Meta == nil {
				if raws[i], err = c.blobs.Get(ctx, m.Blob); err != nil {
					return fmt.Errorf("reading message uid %d: %w", m.UID, err)
				}
			}
			if needMeta && m.Meta == nil {
				m.Meta = message.Parse(raws[i])
			}
		}
		seen := map[uint32]bool{}
		if setSeen {
			if seen, err = c.markSeen(ctx, msgs); err != nil {
				return err
			}
		}
		for i := range msgs {
			if err := write(&msgs[i], raws[i], seen[msgs[i].UID]); err != nil {
				return err
			}
		}
		if err := c.flush(); err != nil {
			return err
		}
	}
	return nil
}

// loadMessages reads the messages with the given UIDs, ascending and all
// in the view, with what load asks for besides. The messages come back in
// the order of uids; those expunged meanwhile are left out.
func (c *conn) loadMessages(ctx context.Context, uids []uint32, load store.Query) ([]store.Message, error) {
	msgs := make([]store.Message, 0, len(uids))
	err := c.eachMessage(ctx, uids, load, func(m *store.Message) error {
		msgs = append(msgs, *m)
		return nil
	})
	return msgs, err
}

// eachMessage calls fn, in order, for the messages with the given UIDs,
// ascending and all in the view, with what load asks for besides; those
// expunged meanwhile are left out. fn may write to the client: the store
// holds nothing open while it runs. fn's error is returned as it is.
func (c *conn) eachMessage(ctx context.Context, uids []uint32, load store.Query, fn func(m *store.Message) error) error {
	if len(uids) == 0 {
		return nil // an empty range list would select every message
	}
	q := load
	q.Mailbox, q.UIDs = c.sel.mb.ID, c.sel.ranges(uids)
	// The ranges may span UIDs the client was not told of; both lists are
	// ascending, so one walk keeps just the asked-for ones.
	next := 0
	var fnErr error
	err := c.srv.Store.Messages(ctx, c.acct.ID, q, func(m *store.Message) error {
		for next < len(uids) && uids[next] < m.UID {
			next++
		}
		if next < len(uids) && uids[next] == m.UID {
			fnErr = fn(m)
		}
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("reading messages: %w", err)
	}
	return nil
}

// markSeen sets \Seen on the messages that lack it, as fetching their
// bodies does, and updates msgs. It returns the UIDs it changed.
func (c *conn) markSeen(ctx context.Context, msgs []store.Message) (map[uint32]bool, error) {
	var uids []uint32
	for _, m := range msgs {
		if !store.HasFlag(m.Flags, store.FlagSeen) {
			uids = append(uids, m.UID)
		}
	}
	seen := map[uint32]bool{}
	if len(uids) == 0 {
		return seen, nil
	}
	res, err := c.srv.Store.UpdateFlags(ctx, c.acct.ID, store.FlagUpdate{
		Mailbox: c.sel.mb.ID, UIDs: store.UIDRanges(uids), Op: store.FlagsAdd, Flags: []string{store.FlagSeen},
	})
	if err != nil {
		return nil, fmt.Errorf("setting \\Seen: %w", err)
	}
	for _, ch := range res.Changed {
		c.sel.own[ch.UID] = ch.ModSeq
		seen[ch.UID] = true
		for i := range msgs {
			if msgs[i].UID == ch.UID {
				msgs[i].Flags, msgs[i].ModSeq = ch.Flags, ch.ModSeq
			}
		}
	}
	return seen, nil
}

// writeFetch writes one untagged FETCH response for message number seq,
// encoded in e, whose buffer it reuses.
func (c *conn) writeFetch(cmd *command, a *fetchArgs, e *encoder, seq uint32, m *store.Message, raw []byte, seenSet bool) error {
	e.b = e.b[:0]
	byUID := c.fetchHead(e, seq, m.UID)
	items := 0
	item := func(name string) *encoder {
		if items > 0 {
			e.sp()
		}
		items++
		return e.raw(name).sp()
	}
	hasUID, hasFlags, hasModSeq := false, false, false
	for _, att := range a.atts {
		hasUID = hasUID || att.name == "UID"
		hasFlags = hasFlags || att.name == "FLAGS"
		hasModSeq = hasModSeq || att.name == "MODSEQ"
	}
	if cmd.uid && !hasUID && !byUID {
		item("UID").num(m.UID) // section 6.4.9
	}
	if seenSet && !hasFlags {
		item("FLAGS").flagList(c.flagsOf(m))
		hasFlags = true
	}
	if !hasModSeq && (a.changedSince > 0 || c.condstore && hasFlags) {
		item("MODSEQ").raw(fmt.Sprintf("(%d)", m.ModSeq)) // RFC 7162 section 3.2.4
	}
	for _, att := range a.atts {
		switch att.name {
		case "UID":
			item("UID").num(m.UID)
		case "FLAGS":
			item("FLAGS").flagList(c.flagsOf(m))
		case "EMAILID":
			item("EMAILID").raw("(" + emailID(m) + ")")
		case "THREADID":
			if m.ThreadID == 0 {
				item("THREADID").raw("NIL")
			} else {
				item("THREADID").raw("(" + threadID(m) + ")")
			}
		case "SAVEDATE":
			// NIL would mean the mailbox keeps no save dates (RFC 8514
			// section 4.2); every mailbox here does.
			item("SAVEDATE").str(m.Saved.Format(dateTimeLayout))
		case "MODSEQ":
			item("MODSEQ").raw(fmt.Sprintf("(%d)", m.ModSeq))
		case "INTERNALDATE":
			item("INTERNALDATE").str(m.Internal.Format(dateTimeLayout))
		case "RFC822.SIZE":
			item("RFC822.SIZE").num64(m.Size)
		case "ENVELOPE":
			item("ENVELOPE").envelope(&m.Meta.Envelope)
		case "BODYSTRUCTURE":
			item("BODYSTRUCTURE").bodyStructure(m.Meta.Structure, true)
		case "BODY":
			item("BODY").bodyStructure(m.Meta.Structure, false)
		case "PREVIEW":
			// Up to 256 characters of plain text in UTF-8, "" for a
			// message without text (RFC 8970 section 3.1).
			item("PREVIEW").str(m.Meta.Preview)
		case "RFC822":
			item("RFC822").literal(raw)
		case "RFC822.HEADER":
			item("RFC822.HEADER").literal(span(raw, 0, headerEnd(raw)))
		case "RFC822.TEXT":
			item("RFC822.TEXT").literal(span(raw, headerEnd(raw), int64(len(raw))))
		case "BODY[]":
			// The top-level header and text need no parsed structure.
			root := &message.Part{BodyStart: headerEnd(raw), BodyEnd: int64(len(raw))}
			if len(att.sec.part) > 0 {
				root = m.Meta.Structure
			}
			data, _ := sectionBytes(raw, root, att.sec)
			item(att.responseName()).literal(att.slice(data))
		case "BINARY[]", "BINARY.SIZE[]":
			data, err := binarySection(raw, m.Meta.Structure, att.sec.part)
			if err != nil {
				return err
			}
			if att.name == "BINARY.SIZE[]" {
				item(att.responseName()).num64(int64(len(data)))
			} else {
				item(att.responseName()).literal8(att.slice(data))
			}
		}
	}
	c.writeBytes(e.raw(")").b)
	return nil
}

// dateTimeLayout formats a date-time (RFC 9051 section 9).
const dateTimeLayout = "02-Jan-2006 15:04:05 -0700"

// headerEnd returns the offset of a message's body: after the first empty
// line, or the end when there is none (RFC 5322 section 2.1).
func headerEnd(raw []byte) int64 {
	for i := 0; i < len(raw); {
		j := i
		for j < len(raw) && raw[j] != '\n' {
			j++
		}
		line := raw[i:j]
		if len(line) == 0 || len(line) == 1 && line[0] == '\r' {
			return int64(min(j+1, len(raw)))
		}
		i = j + 1
	}
	return int64(len(raw))
}

// responseName names the item as the response does: BODY.PEEK is answered
// as BODY, and a partial fetch gives only its origin (section 7.5.2).
func (a *fetchAtt) responseName() string {
	name := strings.TrimSuffix(a.name, "[]") + "[" + a.sec.String() + "]"
	if a.partial {
		name += fmt.Sprintf("<%d>", a.offset)
	}
	return name
}

// slice applies a partial fetch <offset.count>.
func (a *fetchAtt) slice(data []byte) []byte {
	if !a.partial {
		return data
	}
	return span(data, a.offset, a.offset+a.count)
}
