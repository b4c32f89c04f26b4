package jmap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"casella/internal/message"
	"casella/internal/store"
)

// sortProperties are the sorts Email/query supports (RFC 8621 section
// 4.4.2), advertised as emailQuerySortOptions.
var sortProperties = []string{"receivedAt", "size", "from", "to", "subject", "sentAt", "hasKeyword", "allInThreadHaveKeyword", "someInThreadHaveKeyword"}

// filter is a FilterOperator or a FilterCondition (RFC 8620 section 5.5,
// RFC 8621 section 4.4.1).
type filter struct {
	Operator   string
	Conditions []*filter
	Cond       *condition
}

type condition struct {
	InMailbox               *string    `json:"inMailbox"`
	InMailboxOtherThan      []string   `json:"inMailboxOtherThan"`
	Before                  *time.Time `json:"before"`
	After                   *time.Time `json:"after"`
	MinSize                 *int64     `json:"minSize"`
	MaxSize                 *int64     `json:"maxSize"`
	AllInThreadHaveKeyword  *string    `json:"allInThreadHaveKeyword"`
	SomeInThreadHaveKeyword *string    `json:"someInThreadHaveKeyword"`
	NoneInThreadHaveKeyword *string    `json:"noneInThreadHaveKeyword"`
	HasKeyword              *string    `json:"hasKeyword"`
	NotKeyword              *string    `json:"notKeyword"`
	HasAttachment           *bool      `json:"hasAttachment"`
	Text                    *string    `json:"text"`
	From                    *string    `json:"from"`
	To                      *string    `json:"to"`
	Cc                      *string    `json:"cc"`
	Bcc                     *string    `json:"bcc"`
	Subject                 *string    `json:"subject"`
	Body                    *string    `json:"body"`
	Header                  []string   `json:"header"`
}

// maxFilterDepth bounds the nesting of filter operators.
const maxFilterDepth = 16

// ParseFilter reads an Email/query filter; an error is unsupportedFilter.
func ParseFilter(raw json.RawMessage) (*filter, error) { return parseFilter(raw, 0) }

func parseFilter(raw json.RawMessage, depth int) (*filter, error) {
	if depth > maxFilterDepth {
		return nil, fmt.Errorf("filters nest deeper than %d", maxFilterDepth)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("a filter is an object")
	}
	if _, ok := probe["operator"]; ok {
		var f struct {
			Operator   string            `json:"operator"`
			Conditions []json.RawMessage `json:"conditions"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("filter operator: %v", err)
		}
		if f.Operator != "AND" && f.Operator != "OR" && f.Operator != "NOT" {
			return nil, fmt.Errorf("unknown operator %q", f.Operator)
		}
		out := &filter{Operator: f.Operator}
		for _, c := range f.Conditions {
			sub, err := parseFilter(c, depth+1)
			if err != nil {
				return nil, err
			}
			out.Conditions = append(out.Conditions, sub)
		}
		return out, nil
	}
	var cond condition
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cond); err != nil {
		return nil, fmt.Errorf("filter condition: %v", err)
	}
	if n := len(cond.Header); cond.Header != nil && (n < 1 || n > 2) {
		return nil, fmt.Errorf("header is [name] or [name, value]")
	}
	for _, k := range []*string{cond.AllInThreadHaveKeyword, cond.SomeInThreadHaveKeyword, cond.NoneInThreadHaveKeyword, cond.HasKeyword, cond.NotKeyword} {
		if k != nil && !validKeyword(*k) {
			return nil, fmt.Errorf("invalid keyword %q", *k)
		}
	}
	return &filter{Cond: &cond}, nil
}

// needsMeta reports whether the filter reads message headers.
func (f *filter) needsMeta() bool {
	if f == nil {
		return false
	}
	if c := f.Cond; c != nil {
		return c.Text != nil || c.From != nil || c.To != nil || c.Cc != nil || c.Bcc != nil || c.Subject != nil || c.Body != nil || c.Header != nil
	}
	return slices.ContainsFunc(f.Conditions, (*filter).needsMeta)
}

// matcher evaluates filters over an index.
type matcher struct {
	c *call
	x *index
}

func (m matcher) match(f *filter, e *email) (bool, error) {
	if f.Cond == nil {
		for _, sub := range f.Conditions {
			ok, err := m.match(sub, e)
			if err != nil {
				return false, err
			}
			switch {
			case f.Operator == "AND" && !ok:
				return false, nil
			case f.Operator == "OR" && ok:
				return true, nil
			case f.Operator == "NOT" && ok:
				return false, nil
			}
		}
		return f.Operator != "OR", nil
	}
	c := f.Cond
	inMailbox := func(id string) bool {
		rid, _ := m.c.resolveID(id)
		mb := parseID('M', rid)
		return slices.ContainsFunc(e.copies, func(cp store.Message) bool { return cp.Mailbox == mb })
	}
	if c.InMailbox != nil && !inMailbox(*c.InMailbox) {
		return false, nil
	}
	if c.InMailboxOtherThan != nil {
		other := false
		for _, cp := range e.copies {
			if !slices.ContainsFunc(c.InMailboxOtherThan, func(id string) bool { return parseID('M', id) == cp.Mailbox }) {
				other = true
			}
		}
		if !other {
			return false, nil
		}
	}
	if c.Before != nil && !e.received.Before(*c.Before) || c.After != nil && e.received.Before(*c.After) {
		return false, nil
	}
	if c.MinSize != nil && e.size < *c.MinSize || c.MaxSize != nil && e.size >= *c.MaxSize {
		return false, nil
	}
	if c.HasKeyword != nil && !hasKeyword(e.flags(), *c.HasKeyword) || c.NotKeyword != nil && hasKeyword(e.flags(), *c.NotKeyword) {
		return false, nil
	}
	thread := m.x.threads[e.thread]
	inThread := func(k string) (all, some bool) {
		all = true
		for _, t := range thread {
			if hasKeyword(t.flags(), k) {
				some = true
			} else {
				all = false
			}
		}
		return all, some
	}
	if c.AllInThreadHaveKeyword != nil {
		if all, _ := inThread(*c.AllInThreadHaveKeyword); !all {
			return false, nil
		}
	}
	if c.SomeInThreadHaveKeyword != nil {
		if _, some := inThread(*c.SomeInThreadHaveKeyword); !some {
			return false, nil
		}
	}
	if c.NoneInThreadHaveKeyword != nil {
		if _, some := inThread(*c.NoneInThreadHaveKeyword); some {
			return false, nil
		}
	}
	if !f.needsMeta() && c.HasAttachment == nil {
		return true, nil
	}
	meta, err := m.c.metaOf(e)
	if err != nil {
		return false, err
	}
	if c.HasAttachment != nil && meta.HasAttachment != *c.HasAttachment {
		return false, nil
	}
	env := &meta.Envelope
	for _, t := range []struct {
		want *string
		in   []message.Address
	}{{c.From, env.From}, {c.To, env.To}, {c.Cc, env.Cc}, {c.Bcc, env.Bcc}} {
		if t.want != nil && !addressesContain(t.in, *t.want) {
			return false, nil
		}
	}
	if c.Subject != nil && !containsFold(env.Subject, *c.Subject) {
		return false, nil
	}
	if c.Header != nil || c.Body != nil || c.Text != nil {
		raw, err := m.c.blobs.Get(m.c.ctx, e.blob)
		if err != nil {
			return false, fmt.Errorf("reading email %d: %w", e.id, err)
		}
		if c.Header != nil {
			found := false
			for _, hf := range message.Fields(raw, meta.Structure) {
				if strings.EqualFold(hf.Name, c.Header[0]) && (len(c.Header) == 1 || containsFold(message.DecodeText(hf.Value), c.Header[1])) {
					found = true
				}
			}
			if !found {
				return false, nil
			}
		}
		body := func(want string) bool {
			text, html, _ := bodyLists(meta.Structure)
			for _, r := range append(text, html...) {
				if r.part.Type != "text" {
					continue
				}
				if s, err := message.Text(raw, r.part); err == nil && containsFold(s, want) {
					return true
				}
			}
			return false
		}
		if c.Body != nil && !body(*c.Body) {
			return false, nil
		}
		if c.Text != nil {
			w := *c.Text
			if !containsFold(env.Subject, w) && !body(w) &&
				!slices.ContainsFunc([][]message.Address{env.From, env.To, env.Cc, env.Bcc}, func(l []message.Address) bool { return addressesContain(l, w) }) {
				return false, nil
			}
		}
	}
	return true, nil
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func addressesContain(l []message.Address, want string) bool {
	for _, a := range l {
		if containsFold(a.Name, want) || containsFold(a.Local+"@"+a.Host, want) {
			return true
		}
	}
	return false
}

// emailQuerySpec is what an Email/query and its /queryChanges share: the
// query itself (RFC 8621 section 4.4).
type emailQuerySpec struct {
	Filter          json.RawMessage `json:"filter"`
	Sort            []comparator    `json:"sort"`
	CollapseThreads bool            `json:"collapseThreads"`
}

// parse validates the filter and the sort.
func (q *emailQuerySpec) parse() (*filter, error) {
	var f *filter
	if len(q.Filter) > 0 && string(q.Filter) != "null" {
		var err error
		if f, err = ParseFilter(q.Filter); err != nil {
			return nil, mErr("unsupportedFilter", "%v", err)
		}
	}
	return f, checkSort(q.Sort)
}

// emailResults runs the query over x and returns the emails in order;
// when n >= 0, only the first n are needed. A query in the default
// order walks x.newest and stops there, so that a mailbox's newest page
// costs the same in any size of mailbox.
func (c *call) emailResults(x *index, q *emailQuerySpec, f *filter, n int) ([]*email, error) {
	if f.needsMeta() {
		if err := c.loadMeta(x); err != nil {
			return nil, err
		}
	}
	presorted := len(q.Sort) == 0 || len(q.Sort) == 1 && q.Sort[0].Property == "receivedAt" && !q.Sort[0].ascending()
	if !presorted {
		n = -1
	}
	m := matcher{c, x}
	var list []*email
	seen := map[int64]bool{}
	for _, e := range x.newest {
		if n >= 0 && len(list) >= n {
			break
		}
		if f != nil {
			ok, err := m.match(f, e)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		if presorted && q.CollapseThreads {
			if seen[e.thread] {
				continue
			}
			seen[e.thread] = true
		}
		list = append(list, e)
	}
	if presorted {
		return list, nil
	}
	sortEmails(x, list, q.Sort)
	if q.CollapseThreads {
		list = slices.DeleteFunc(list, func(e *email) bool {
			if seen[e.thread] {
				return true
			}
			seen[e.thread] = true
			return false
		})
	}
	return list, nil
}

// emailQuery is Email/query (RFC 8621 section 4.4).
func (c *call) emailQuery(raw json.RawMessage) (any, error) {
	var a struct {
		AccountID string `json:"accountId"`
		emailQuerySpec
		Position       int     `json:"position"`
		Anchor         *string `json:"anchor"`
		AnchorOffset   int     `json:"anchorOffset"`
		Limit          *int    `json:"limit"`
		CalculateTotal bool    `json:"calculateTotal"`
	}
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	f, err := a.parse()
	if err != nil {
		return nil, err
	}
	if a.Limit != nil && *a.Limit < 0 {
		return nil, invalidArgs("limit is negative")
	}
	x, err := c.index()
	if err != nil {
		return nil, err
	}
	n := -1
	if a.Limit != nil && !a.CalculateTotal && a.Anchor == nil && a.Position >= 0 {
		n = a.Position + *a.Limit
	}
	list, err := c.emailResults(x, &a.emailQuerySpec, f, n)
	if err != nil {
		return nil, err
	}
	out, err := pageResult(c, x.state, emailIDs(list), a.Position, a.Limit, a.CalculateTotal, a.Anchor, a.AnchorOffset)
	if err != nil {
		return nil, err
	}
	out.CanCalculateChanges = true
	return out, nil
}

func emailIDs(l []*email) []string {
	ids := make([]string, len(l))
	for i, e := range l {
		ids[i] = emailID(e.id)
	}
	return ids
}

// emailQueryChanges is Email/queryChanges (RFC 8620 section 5.6, RFC 8621
// section 4.5). Every email the change log touched since the old state
// is removed, and added back at its index if it is in the results now;
// an email the log did not touch kept its properties, so its place
// relative to the others. When the results depend on an email's thread
// (collapseThreads, the *InThreadHaveKeyword filters and sorts), the
// other emails of a touched email's thread count as touched too; that
// needs the thread of every email destroyed since, and when the server
// no longer knows one it answers cannotCalculateChanges.
func (c *call) emailQueryChanges(raw json.RawMessage) (any, error) {
	var a struct {
		queryChangesArgs
		emailQuerySpec
	}
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	f, err := a.parse()
	if err != nil {
		return nil, err
	}
	x, err := c.index()
	if err != nil {
		return nil, err
	}
	log, err := c.changesSince(a.SinceQueryState, x)
	if err != nil {
		return nil, err
	}
	changed := map[string]bool{}
	threads := map[int64]bool{}
	byThread := a.CollapseThreads || f.usesThreads() || slices.ContainsFunc(a.Sort, func(s comparator) bool { return strings.HasSuffix(s.Property, "InThreadHaveKeyword") })
	for _, ch := range log {
		if ch.UID == 0 {
			continue
		}
		changed[emailID(ch.EmailID)] = true
		if !byThread {
			continue
		}
		if e := x.emails[ch.EmailID]; e != nil {
			threads[e.thread] = true
		} else if t, ok := x.gone[ch.EmailID]; ok {
			threads[t] = true
		} else {
			return nil, mErr("cannotCalculateChanges", "email %s was destroyed and its thread is no longer known; run the query again", emailID(ch.EmailID))
		}
	}
	for t := range threads {
		for _, e := range x.threads[t] {
			changed[emailID(e.id)] = true
		}
	}
	list, err := c.emailResults(x, &a.emailQuerySpec, f, -1)
	if err != nil {
		return nil, err
	}
	immutable := !byThread && !f.mutable() && !slices.ContainsFunc(a.Sort, func(s comparator) bool { return s.Property == "hasKeyword" })
	return queryChangesResult(c, &a.queryChangesArgs, x.state, emailIDs(list), changed, immutable)
}

// usesThreads reports whether the filter looks at an email's thread.
func (f *filter) usesThreads() bool {
	if f == nil {
		return false
	}
	if c := f.Cond; c != nil {
		return c.AllInThreadHaveKeyword != nil || c.SomeInThreadHaveKeyword != nil || c.NoneInThreadHaveKeyword != nil
	}
	return slices.ContainsFunc(f.Conditions, (*filter).usesThreads)
}

// mutable reports whether the filter looks at properties that change:
// mailboxIds and keywords (RFC 8621 section 4.1).
func (f *filter) mutable() bool {
	if f == nil {
		return false
	}
	if c := f.Cond; c != nil {
		return c.InMailbox != nil || c.InMailboxOtherThan != nil || c.HasKeyword != nil || c.NotKeyword != nil || f.usesThreads()
	}
	return slices.ContainsFunc(f.Conditions, (*filter).mutable)
}

// checkSort validates the comparators of Email/query.
func checkSort(l []comparator) error {
	for _, s := range l {
		if !slices.Contains(sortProperties, s.Property) {
			return mErr("unsupportedSort", "cannot sort by %q", s.Property)
		}
		if s.Collation != "" && s.Collation != "i;ascii-casemap" {
			return mErr("unsupportedSort", "unknown collation %q", s.Collation)
		}
		if strings.HasSuffix(s.Property, "Keyword") && !validKeyword(s.Keyword) {
			return mErr("unsupportedSort", "%s needs a keyword", s.Property)
		}
	}
	return nil
}

// sortEmails sorts by the comparators, then newest first, then by id so
// that the order is total and stable across requests.
func sortEmails(x *index, l []*email, sorts []comparator) {
	slices.SortFunc(l, func(a, b *email) int {
		for _, s := range sorts {
			r := compareBy(x, a, b, s)
			if !s.ascending() {
				r = -r
			}
			if r != 0 {
				return r
			}
		}
		if r := b.received.Compare(a.received); r != 0 {
			return r
		}
		return int(b.id - a.id)
	})
}

func compareBy(x *index, a, b *email, s comparator) int {
	switch s.Property {
	case "receivedAt":
		return a.received.Compare(b.received)
	case "size":
		return int(a.size - b.size)
	case "from":
		return strings.Compare(a.sort.From, b.sort.From)
	case "to":
		return strings.Compare(a.sort.To, b.sort.To)
	case "subject":
		return strings.Compare(strings.ToLower(a.sort.Subject), strings.ToLower(b.sort.Subject))
	case "sentAt":
		return a.sort.Sent.Compare(b.sort.Sent)
	case "hasKeyword":
		return boolCmp(hasKeyword(a.flags(), s.Keyword), hasKeyword(b.flags(), s.Keyword))
	case "allInThreadHaveKeyword", "someInThreadHaveKeyword":
		all := s.Property == "allInThreadHaveKeyword"
		v := func(e *email) bool {
			for _, t := range x.threads[e.thread] {
				if hasKeyword(t.flags(), s.Keyword) != all {
					return !all
				}
			}
			return all
		}
		return boolCmp(v(a), v(b))
	}
	return 0
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
