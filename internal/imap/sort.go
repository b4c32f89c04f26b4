package imap

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"casella/internal/message"
	"casella/internal/store"
)

// sortKey is a SORT criterion's key (RFC 5256 section 3).
type sortKey int

const (
	sortArrival sortKey = iota
	sortCc
	sortDate
	sortFrom
	sortSize
	sortSubject
	sortTo
	sortDisplayFrom // RFC 5957
	sortDisplayTo
)

var sortKeys = map[string]sortKey{
	"ARRIVAL": sortArrival,
	"CC":      sortCc,
	"DATE":    sortDate,
	"FROM":    sortFrom,
	"SIZE":    sortSize,
	"SUBJECT": sortSubject,
	"TO":      sortTo,

	"DISPLAYFROM": sortDisplayFrom,
	"DISPLAYTO":   sortDisplayTo,
}

// sortCriterion is one sort-criterion: a key, reversed or not.
type sortCriterion struct {
	key     sortKey
	reverse bool
}

// sortArgs are the parsed arguments of SORT.
type sortArgs struct {
	ret      searchReturn // RETURN options (RFC 5267 section 3.2)
	criteria []sortCriterion
	root     *searchKey
}

// sortItem is a message with the values SORT compares.
type sortItem struct {
	seq, num      uint32 // num: the sequence number or UID answered
	arrival, sent int64  // Unix nanoseconds
	size          int64
	// subject is the base subject; from, to and cc are the addr-mailbox
	// (local part) of the field's first address.
	subject, from, to, cc string
	// displayFrom and displayTo are the display names of SORT=DISPLAY.
	displayFrom, displayTo string
}

// cmdSort serves SORT and UID SORT (RFC 5256 section 3), with the ESORT
// RETURN options (RFC 5267 section 3.2).
func (c *conn) cmdSort(cmd *command) error {
	a, err := c.parseSort()
	if err != nil {
		return err
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	nums, err := c.runSort(ctx, a, cmd.uid)
	if err != nil {
		return err
	}
	if a.ret.esearch {
		// MIN and MAX are the first and last messages in the sort order,
		// ALL lists them in that order.
		c.writeESearch(cmd, &a.ret, nums, nil)
		if a.ret.update {
			c.keepUpdated(cmd, a.root, a, nums)
		}
		return nil
	}
	e := c.enc()
	e.raw("* SORT")
	for _, n := range nums {
		e.sp().num(n)
	}
	c.writeBytes(e.b)
	return nil
}

// runSort returns the sequence numbers, or UIDs, of the messages that
// match a.root, in the order of a.criteria.
func (c *conn) runSort(ctx context.Context, a *sortArgs, uid bool) ([]uint32, error) {
	// Display names are not among the stored sort keys; they come from
	// the envelope.
	display := slices.ContainsFunc(a.criteria, func(cr sortCriterion) bool {
		return cr.key == sortDisplayFrom || cr.key == sortDisplayTo
	})
	items := make([]sortItem, 0, len(c.sel.uids))
	err := c.eachMatch(ctx, a.root, store.Query{WithSortKeys: true, WithMeta: display}, time.Now(), func(m *store.Message, seq uint32) {
		it := newSortItem(m, seq, uid)
		if display && m.Meta != nil {
			it.displayFrom, it.displayTo = displayName(m.Meta.Envelope.From), displayName(m.Meta.Envelope.To)
		}
		items = append(items, it)
	})
	if err != nil {
		return nil, err
	}
	// Sorting indices moves 4 bytes a swap instead of a whole sortItem.
	order := make([]int32, len(items))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(x, y int32) int { return compareSort(&items[x], &items[y], a.criteria) })
	nums := make([]uint32, len(items))
	for i, x := range order {
		nums[i] = items[x].num
	}
	return nums, nil
}

// parseSort reads "[RETURN (opts) SP] (criteria) SP charset SP
// search-criteria" and the end of the line (RFC 5256 section 5, RFC 5267
// section 5).
func (c *conn) parseSort() (*sortArgs, error) {
	a := &sortArgs{}
	if err := c.p.sp(); err != nil {
		return nil, err
	}
	if ch, err := c.p.peek(); err != nil {
		return nil, err
	} else if ch != '(' {
		word, err := c.p.atom()
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(word, "RETURN") {
			return nil, errSyntax("expected RETURN or sort criteria, got %s", word)
		}
		if err := c.searchReturnOpts(&a.ret); err != nil {
			return nil, err
		}
	}
	if err := c.p.expect('(', "list of sort criteria"); err != nil {
		return nil, err
	}
	words, err := c.atomList()
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(words); i++ {
		var cr sortCriterion
		if words[i] == "REVERSE" && i+1 < len(words) {
			cr.reverse = true
			i++
		}
		k, ok := sortKeys[words[i]]
		if !ok {
			return nil, errSyntax("unknown sort key %s", words[i])
		}
		cr.key = k
		a.criteria = append(a.criteria, cr)
	}
	if len(a.criteria) == 0 {
		return nil, errSyntax("empty list of sort criteria")
	}
	if a.root, err = c.charsetAndCriteria(); err != nil {
		return nil, err
	}
	return a, nil
}

// charsetAndCriteria reads " charset SP search-criteria" to the end of the
// line, as SORT and THREAD have them (RFC 5256 section 5).
func (c *conn) charsetAndCriteria() (*searchKey, error) {
	if err := c.p.sp(); err != nil {
		return nil, err
	}
	cs, err := c.p.astring()
	if err != nil {
		return nil, err
	}
	if err := checkCharset(cs); err != nil {
		return nil, err
	}
	if err := c.p.sp(); err != nil {
		return nil, err
	}
	root, err := c.p.searchKeys("")
	if err != nil {
		return nil, err
	}
	return root, c.p.end()
}

func newSortItem(m *store.Message, seq uint32, uid bool) sortItem {
	internal := m.Internal.UnixNano()
	it := sortItem{seq: seq, num: seq, arrival: internal, sent: internal, size: m.Size}
	if uid {
		it.num = m.UID
	}
	if k := m.SortKeys; k != nil {
		// A message without a usable Date is sorted by its internal date
		// (RFC 5256 section 2.2).
		if !k.Sent.IsZero() {
			it.sent = k.Sent.UnixNano()
		}
		it.subject = k.Subject
		it.from, it.to, it.cc = addrMailbox(k.From), addrMailbox(k.To), addrMailbox(k.Cc)
	}
	return it
}

// displayName is what DISPLAYFROM and DISPLAYTO sort by (RFC 5957
// section 2): the decoded display name of the first address, or its
// addr-spec when it has none or an empty one. A group shows as its name.
func displayName(l []message.Address) string {
	if len(l) == 0 {
		return ""
	}
	a := l[0]
	if a.Name != "" || a.Group != message.Mailbox {
		return a.Name
	}
	if a.Host == "" {
		return a.Local
	}
	return a.Local + "@" + a.Host
}

// addrMailbox returns the local part of local@domain.
func addrMailbox(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[:i]
	}
	return addr
}

// compareSort orders two messages by the criteria, and by sequence number
// when they are equal by all of them (RFC 5256 section 3): REVERSE does not
// turn that last order around.
func compareSort(x, y *sortItem, criteria []sortCriterion) int {
	for _, cr := range criteria {
		var d int
		switch cr.key {
		case sortArrival:
			d = cmp.Compare(x.arrival, y.arrival)
		case sortCc:
			d = compareCasemap(x.cc, y.cc)
		case sortDate:
			d = cmp.Compare(x.sent, y.sent)
		case sortFrom:
			d = compareCasemap(x.from, y.from)
		case sortSize:
			d = cmp.Compare(x.size, y.size)
		case sortSubject:
			d = compareCasemap(x.subject, y.subject)
		case sortTo:
			d = compareCasemap(x.to, y.to)
		case sortDisplayFrom:
			d = compareCasemap(x.displayFrom, y.displayFrom)
		case sortDisplayTo:
			d = compareCasemap(x.displayTo, y.displayTo)
		}
		if cr.reverse {
			d = -d
		}
		if d != 0 {
			return d
		}
	}
	return cmp.Compare(x.seq, y.seq)
}

// compareCasemap compares strings with the i;ascii-casemap collation
// (RFC 4790 section 9.2), the default of SORT (RFC 5256 section 3):
// octet by octet after mapping ASCII lower case letters to upper case.
func compareCasemap(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if d := cmp.Compare(upperASCII(a[i]), upperASCII(b[i])); d != 0 {
			return d
		}
	}
	return cmp.Compare(len(a), len(b))
}

func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// foldASCII maps s to upper case ASCII letters, so that equal strings
// under i;ascii-casemap are equal byte for byte.
func foldASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 {
			return rune(upperASCII(byte(r)))
		}
		return r
	}, s)
}
