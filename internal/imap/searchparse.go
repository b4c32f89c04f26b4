package imap

import (
	"strings"
	"time"
)

// searchKey is a node of a SEARCH criteria tree (RFC 9051 section 6.4.4).
type searchKey struct {
	op     string // the key's name, "AND" for a list, "SEQ" for a bare sequence set
	flag   string // flag keys: the flag; KEYWORD: the keyword
	want   bool   // flag keys: whether the flag must be set
	field  string // HEADER: field name
	text   string // string argument; EMAILID, THREADID: the object ID
	date   time.Time
	size   int64 // LARGER, SMALLER: octets; OLDER, YOUNGER: seconds
	modseq uint64
	set    seqSet
	keys   []*searchKey // AND: all; OR: two; NOT: one
}

// flagKeys are the keys that test one system flag.
var flagKeys = map[string]struct {
	flag string
	want bool
}{
	"ANSWERED": {`\Answered`, true}, "UNANSWERED": {`\Answered`, false},
	"DELETED": {`\Deleted`, true}, "UNDELETED": {`\Deleted`, false},
	"DRAFT": {`\Draft`, true}, "UNDRAFT": {`\Draft`, false},
	"FLAGGED": {`\Flagged`, true}, "UNFLAGGED": {`\Flagged`, false},
	"SEEN": {`\Seen`, true}, "UNSEEN": {`\Seen`, false},
}

// maxSearchDepth bounds the nesting of NOT, OR and lists, so that a
// hostile command cannot exhaust the stack.
const maxSearchDepth = 100

// searchKeys reads "search-key *(SP search-key)" to the end of the line.
// first is the name of the first key when the caller already read it.
func (p *parser) searchKeys(first string) (*searchKey, error) {
	and := &searchKey{op: "AND"}
	for {
		k, err := p.searchKey(0, first)
		first = ""
		if err != nil {
			return nil, err
		}
		and.keys = append(and.keys, k)
		if ok, err := p.take(' '); err != nil || !ok {
			return and, err
		}
	}
}

func (p *parser) searchKey(depth int, name string) (*searchKey, error) {
	if depth > maxSearchDepth {
		return nil, errSyntax("search criteria nested too deeply")
	}
	if name != "" {
		return p.namedSearchKey(depth, name)
	}
	c, err := p.peek()
	if err != nil {
		return nil, err
	}
	if c == '(' {
		if _, err := p.next(); err != nil {
			return nil, err
		}
		and := &searchKey{op: "AND"}
		for {
			k, err := p.searchKey(depth+1, "")
			if err != nil {
				return nil, err
			}
			and.keys = append(and.keys, k)
			if ok, err := p.take(')'); err != nil {
				return nil, err
			} else if ok {
				return and, nil
			}
			if err := p.sp(); err != nil {
				return nil, err
			}
		}
	}
	if c == '*' || c == '$' || '0' <= c && c <= '9' {
		set, err := p.seqSet()
		return &searchKey{op: "SEQ", set: set}, err
	}
	name, err = p.atom()
	if err != nil {
		return nil, err
	}
	return p.namedSearchKey(depth, name)
}

// namedSearchKey reads the arguments of the key called name.
func (p *parser) namedSearchKey(depth int, name string) (*searchKey, error) {
	var err error
	k := &searchKey{op: strings.ToUpper(name)}
	if f, ok := flagKeys[k.op]; ok {
		k.flag, k.want = f.flag, f.want
		return k, nil
	}
	switch k.op {
	case "ALL", "NEW", "OLD", "RECENT", "SAVEDATESUPPORTED":
		return k, nil
	case "NOT", "OR":
		n := 1
		if k.op == "OR" {
			n = 2
		}
		for range n {
			if err := p.sp(); err != nil {
				return nil, err
			}
			sub, err := p.searchKey(depth+1, "")
			if err != nil {
				return nil, err
			}
			k.keys = append(k.keys, sub)
		}
		return k, nil
	}
	if err := p.sp(); err != nil {
		return nil, err
	}
	switch k.op {
	case "BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO":
		k.text, err = p.astring()
	case "HEADER":
		if k.field, err = p.astring(); err != nil {
			return nil, err
		}
		if err := p.sp(); err != nil {
			return nil, err
		}
		k.text, err = p.astring()
	case "KEYWORD", "UNKEYWORD":
		k.flag, err = p.flag()
		k.want = k.op == "KEYWORD"
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE",
		"SAVEDBEFORE", "SAVEDON", "SAVEDSINCE": // RFC 8514 section 4.3
		k.date, err = p.date()
	case "EMAILID", "THREADID": // RFC 8474 section 6
		k.text, err = p.objectID()
	case "OLDER", "YOUNGER": // RFC 5032 section 3: seconds
		var n uint32
		n, err = p.nzNumber()
		k.size = int64(n)
	case "LARGER", "SMALLER":
		var n uint64
		n, err = p.number64()
		k.size = int64(n)
	case "UID":
		k.set, err = p.seqSet()
	case "MODSEQ":
		// RFC 7162 section 3.1.5: an optional entry name and type, which
		// this server does not distinguish, then the MODSEQ.
		if c, err := p.peek(); err == nil && c == '"' {
			if _, err := p.quoted(); err != nil {
				return nil, err
			}
			if err := p.sp(); err != nil {
				return nil, err
			}
			if _, err := p.atom(); err != nil {
				return nil, err
			}
			if err := p.sp(); err != nil {
				return nil, err
			}
		}
		k.modseq, err = p.number64()
	default:
		return nil, errSyntax("unknown search key %s", name)
	}
	return k, err
}

// uses reports whether the tree contains a key for which pred is true.
func (k *searchKey) uses(pred func(*searchKey) bool) bool {
	if pred(k) {
		return true
	}
	for _, sub := range k.keys {
		if sub.uses(pred) {
			return true
		}
	}
	return false
}
