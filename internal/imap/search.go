package imap

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"casella/internal/message"
	"casella/internal/store"
)

// searchReturn holds ESEARCH return options (RFC 4731 section 3.1) and
// SAVE (RFC 5182 section 2).
type searchReturn struct {
	esearch               bool
	min, max, count, list bool
	save                  bool
	// PARTIAL lo:hi, UPDATE and CONTEXT (RFC 5267 section 4); CONTEXT
	// is a hint that changes nothing here.
	partial        bool
	lo, hi         uint32
	update, hinted bool
}

// cmdSearch serves SEARCH and UID SEARCH (RFC 9051 section 6.4.4) with
// ESEARCH return options (RFC 4731), SAVE (RFC 5182) and the MODSEQ key
// (RFC 7162). An IMAP4rev2 client always gets ESEARCH (section 7.3.4).
func (c *conn) cmdSearch(cmd *command) (err error) {
	if err := c.p.sp(); err != nil {
		return err
	}
	var ret searchReturn
	first, err := c.searchPrefix(&ret)
	if err != nil {
		return err
	}
	v := c.sel
	if ret.save {
		// A failed SEARCH leaves an empty saved result (RFC 5182
		// section 2.1).
		defer func() {
			if err != nil {
				v.saved = nil
			}
		}()
	}
	root, err := c.p.searchKeys(first)
	if err != nil {
		return err
	}
	if err := c.p.end(); err != nil {
		return err
	}
	if c.rev2 && !ret.esearch {
		ret.esearch, ret.list = true, true
	}
	useModSeq := root.uses(func(k *searchKey) bool { return k.op == "MODSEQ" })
	if useModSeq {
		c.condstore = true // an enabling command (RFC 7162 section 3.1)
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	now := time.Now()
	var hits, hitUIDs []uint32 // sequence numbers or UIDs, and UIDs, ascending
	var modseqs []uint64       // of each hit, with a MODSEQ criterion
	err = c.eachMatch(ctx, root, store.Query{}, now, func(m *store.Message, seq uint32) {
		if useModSeq {
			modseqs = append(modseqs, m.ModSeq)
		}
		hitUIDs = append(hitUIDs, m.UID)
		if cmd.uid {
			hits = append(hits, m.UID)
		} else {
			hits = append(hits, seq)
		}
	})
	if err != nil {
		return err
	}
	if ret.save {
		v.saveResult(&ret, hitUIDs)
		if !ret.min && !ret.max && !ret.count && !ret.list {
			return nil // SAVE alone answers nothing (RFC 5182 section 2.1)
		}
	}
	if ret.esearch {
		c.writeESearch(cmd, &ret, hits, modseqs)
		if ret.update {
			c.keepUpdated(cmd, root, nil, hits)
		}
		return nil
	}
	e := c.enc()
	e.raw("* SEARCH")
	for _, n := range hits {
		e.sp().num(n)
	}
	if useModSeq && len(hits) > 0 {
		e.raw(fmt.Sprintf(" (MODSEQ %d)", slices.Max(modseqs))) // RFC 7162 section 3.1.5
	}
	c.writeBytes(e.b)
	return nil
}

// searchPrefix reads the optional "RETURN (...)" and "CHARSET x" before
// the criteria, each followed by a space, and returns the name of the
// first search key when it had to read it to know.
func (c *conn) searchPrefix(ret *searchReturn) (string, error) {
	var word string
	next := func() error {
		word = ""
		if ch, err := c.p.peek(); err != nil || ch == '(' || ch == '*' || ch == '$' || '0' <= ch && ch <= '9' {
			return err
		}
		var err error
		word, err = c.p.atom()
		return err
	}
	if err := next(); err != nil {
		return "", err
	}
	if strings.EqualFold(word, "RETURN") {
		if err := c.searchReturnOpts(ret); err != nil {
			return "", err
		}
		if err := next(); err != nil {
			return "", err
		}
	}
	if strings.EqualFold(word, "CHARSET") {
		if err := c.p.sp(); err != nil {
			return "", err
		}
		cs, err := c.p.astring()
		if err != nil {
			return "", err
		}
		if err := checkCharset(cs); err != nil {
			return "", err
		}
		if err := c.p.sp(); err != nil {
			return "", err
		}
		word = ""
	}
	return word, nil
}

// searchReturnOpts reads " (opts) " after RETURN (RFC 4731 section 3.1).
func (c *conn) searchReturnOpts(ret *searchReturn) error {
	if err := c.p.sp(); err != nil {
		return err
	}
	if err := c.p.expect('(', "list of return options"); err != nil {
		return err
	}
	opts, err := c.atomList()
	if err != nil {
		return err
	}
	ret.esearch = true
	for i := 0; i < len(opts); i++ {
		switch o := opts[i]; o {
		case "PARTIAL":
			if i+1 == len(opts) {
				return errSyntax("PARTIAL needs a range")
			}
			i++
			if ret.lo, ret.hi, err = partialRange(opts[i]); err != nil {
				return err
			}
			ret.partial = true
		case "UPDATE":
			ret.update = true
		case "CONTEXT":
			ret.hinted = true
		case "MIN":
			ret.min = true
		case "MAX":
			ret.max = true
		case "COUNT":
			ret.count = true
		case "ALL":
			ret.list = true
		case "SAVE":
			ret.save = true
		default:
			return errSyntax("unknown search return option %s", o)
		}
	}
	if len(opts) == 0 || !ret.min && !ret.max && !ret.count && !ret.list && !ret.save && !ret.partial {
		// RETURN () means ALL (RFC 4731 section 3.1); so does a RETURN
		// with only UPDATE or CONTEXT (RFC 5267 section 4.1).
		ret.list = true
	}
	return c.p.sp()
}

// writeESearch writes the ESEARCH response (RFC 4731 section 3.2).
func (c *conn) writeESearch(cmd *command, ret *searchReturn, hits []uint32, modseqs []uint64) {
	e := c.enc()
	e.raw("* ESEARCH (TAG ").str(cmd.tag).raw(")")
	if cmd.uid {
		e.raw(" UID")
	}
	esearchData(e, ret, hits, modseqs)
	c.writeBytes(e.b)
}

// esearchData writes the search-return-data of an ESEARCH response: what
// ret asks for of hits, and the MODSEQ when modseqs holds the hits'
// MODSEQs.
func esearchData(e *encoder, ret *searchReturn, hits []uint32, modseqs []uint64) {
	if len(hits) > 0 {
		if ret.min {
			e.raw(" MIN ").num(hits[0])
		}
		if ret.max {
			e.raw(" MAX ").num(hits[len(hits)-1])
		}
	}
	if ret.count {
		e.raw(" COUNT ").num(uint32(len(hits)))
	}
	if ret.list && len(hits) > 0 {
		e.raw(" ALL ").raw(formatSet(hits))
	}
	if ret.partial {
		writePartial(e, ret.lo, ret.hi, hits)
	}
	if len(modseqs) > 0 {
		// The highest MODSEQ of the messages returned: with only MIN
		// and MAX, just those (RFC 7162 section 3.1.5, RFC 4731
		// section 3.2).
		highest := slices.Max(modseqs)
		if !ret.list && !ret.count {
			highest = 0
			if ret.min {
				highest = modseqs[0]
			}
			if ret.max {
				highest = max(highest, modseqs[len(modseqs)-1])
			}
		}
		e.raw(fmt.Sprintf(" MODSEQ %d", highest))
	}
}

// candidate is a message being tested against search criteria.
type candidate struct {
	m   *store.Message
	seq uint32
	raw []byte    // the message's bytes when a key needs them
	now time.Time // the command's start, for OLDER and YOUNGER
}

// matches evaluates a search key for one message.
func (c *conn) matches(k *searchKey, x *candidate) bool {
	m := x.m
	switch k.op {
	case "AND":
		for _, sub := range k.keys {
			if !c.matches(sub, x) {
				return false
			}
		}
		return true
	case "OR":
		return c.matches(k.keys[0], x) || c.matches(k.keys[1], x)
	case "NOT":
		return !c.matches(k.keys[0], x)
	case "ALL", "SAVEDATESUPPORTED": // every mailbox keeps save dates (RFC 8514 section 4.3)
		return true
	case "RECENT":
		return c.sel.recent[m.UID]
	case "NEW":
		return c.sel.recent[m.UID] && !store.HasFlag(m.Flags, store.FlagSeen)
	case "OLD":
		return !c.sel.recent[m.UID]
	case "SEQ", "UID":
		if k.set.saved {
			return c.sel.isSaved(m.UID)
		}
		if k.op == "SEQ" {
			return inSet(k.set, x.seq, uint32(len(c.sel.uids)))
		}
		return inSet(k.set, m.UID, c.sel.uids[len(c.sel.uids)-1])
	case "KEYWORD", "UNKEYWORD":
		return store.HasFlag(m.Flags, k.flag) == k.want
	case "LARGER":
		return m.Size > k.size
	case "SMALLER":
		return m.Size < k.size
	case "MODSEQ":
		return m.ModSeq >= k.modseq
	case "EMAILID":
		return emailID(m) == k.text
	case "THREADID":
		return m.ThreadID != 0 && threadID(m) == k.text
	case "BEFORE", "ON", "SINCE":
		return compareDate(k.op, m.Internal, k.date)
	case "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE":
		return compareDate(strings.TrimPrefix(k.op, "SAVED"), m.Saved, k.date)
	case "OLDER":
		return !m.Internal.After(x.now.Add(-time.Duration(k.size) * time.Second)) // RFC 5032 section 3
	case "YOUNGER":
		return m.Internal.After(x.now.Add(-time.Duration(k.size) * time.Second))
	case "SENTBEFORE", "SENTON", "SENTSINCE":
		d := m.Meta.Envelope.Date
		if d.IsZero() {
			d = m.Internal // RFC 9051: without a usable Date, the internal date
		}
		return compareDate(strings.TrimPrefix(k.op, "SENT"), d, k.date)
	case "SUBJECT":
		return containsFold(m.Meta.Envelope.Subject, k.text)
	case "FROM", "TO", "CC", "BCC":
		return containsFold(addressText(m.Meta.Envelope, k.op), k.text)
	case "HEADER":
		return headerContains(x.raw, k.field, k.text)
	case "BODY":
		return containsFold(bodyText(x.raw, m.Meta.Structure), k.text)
	case "TEXT":
		return containsFold(headerText(x.raw), k.text) || containsFold(bodyText(x.raw, m.Meta.Structure), k.text)
	}
	if _, ok := flagKeys[k.op]; ok {
		return store.HasFlag(m.Flags, k.flag) == k.want
	}
	return false
}

// inSet reports whether n is in a sequence set where "*" is star.
func inSet(set seqSet, n, star uint32) bool {
	for _, r := range set.ranges {
		first, last := r.bounds(star)
		if first <= n && n <= last {
			return true
		}
	}
	return false
}

// compareDate compares the date of t, in its own time zone, with day, as
// the date keys do: "disregarding time and timezone" (section 6.4.4).
func compareDate(op string, t, day time.Time) bool {
	y, mo, d := t.Date()
	date := time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
	switch op {
	case "BEFORE":
		return date.Before(day)
	case "ON":
		return date.Equal(day)
	}
	return !date.Before(day)
}

// containsFold reports whether s contains sub, ignoring case; an empty
// sub matches everything.
func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// addressText renders an address list field for substring matching.
func addressText(env message.Envelope, field string) string {
	var l []message.Address
	switch field {
	case "FROM":
		l = env.From
	case "TO":
		l = env.To
	case "CC":
		l = env.Cc
	case "BCC":
		l = env.Bcc
	}
	// A group's name can be searched for too: it is all that shows of
	// an empty one (undisclosed-recipients:;).
	var b strings.Builder
	for _, a := range l {
		switch a.Group {
		case message.GroupStart:
			fmt.Fprintf(&b, "%s: ", a.Name)
		case message.GroupEnd:
			b.WriteString("; ")
		default:
			fmt.Fprintf(&b, "%s <%s@%s>, ", a.Name, a.Local, a.Host)
		}
	}
	return b.String()
}
