package jmap

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"casella/internal/store"
)

// roles maps special use (RFC 6154) to JMAP roles (RFC 8621 section 2,
// the IANA registry of RFC 8457).
var roles = map[string]string{
	store.UseAll:     "all",
	store.UseArchive: "archive",
	store.UseDrafts:  "drafts",
	store.UseFlagged: "flagged",
	store.UseJunk:    "junk",
	store.UseSent:    "sent",
	store.UseTrash:   "trash",
}

// leafName is the last level of a mailbox name, JMAP's name.
func leafName(name string) string {
	return name[strings.LastIndex(name, store.Separator)+1:]
}

func roleOf(mb *store.Mailbox) any {
	if mb.Name == store.Inbox {
		return "inbox"
	}
	if r, ok := roles[mb.SpecialUse]; ok {
		return r
	}
	return nil
}

func useOf(role string) (string, bool) {
	for u, r := range roles {
		if r == role {
			return u, true
		}
	}
	return "", false
}

// sortOrderKey is the annotation (RFC 5464) that keeps a mailbox's
// sortOrder, so that IMAP's METADATA and JMAP share it.
const sortOrderKey = "/private/vendor/casella/jmap-sortorder"

// defaultSortOrder puts the inbox first and the other roles before the
// user's mailboxes.
func defaultSortOrder(mb *store.Mailbox) int {
	if mb.Name == store.Inbox {
		return 1
	}
	if mb.SpecialUse != "" {
		return 2
	}
	return 10
}

// mailboxPropNames are Mailbox's properties (RFC 8621 section 2).
var mailboxPropNames = []string{"id", "name", "parentId", "role", "sortOrder", "totalEmails", "unreadEmails", "totalThreads", "unreadThreads", "myRights", "isSubscribed"}

// writeMailbox writes a Mailbox object with the properties asked, sorted
// and each once (sortedProps).
func (c *call) writeMailbox(w *jsonw, x *index, mb *store.Mailbox, props []string) error {
	w.open('{')
	for _, p := range props {
		w.key(p)
		switch p {
		case "id":
			w.id('M', mb.ID)
		case "name":
			w.str(leafName(mb.Name))
		case "parentId":
			var parent *store.Mailbox
			if i := strings.LastIndex(mb.Name, store.Separator); i >= 0 {
				parent = x.mbByName[mb.Name[:i]]
			}
			if parent != nil {
				w.id('M', parent.ID)
			} else {
				w.null()
			}
		case "role":
			if r, ok := roleOf(mb).(string); ok {
				w.str(r)
			} else {
				w.null()
			}
		case "sortOrder":
			n, err := c.sortOrder(mb)
			if err != nil {
				return err
			}
			w.int(int64(n))
		case "totalEmails":
			w.int(int64(mb.Messages))
		case "unreadEmails":
			w.int(int64(mb.Unseen))
		case "totalThreads", "unreadThreads":
			all, unread := threadCounts(x, mb.ID)
			if p == "totalThreads" {
				w.int(int64(all))
			} else {
				w.int(int64(unread))
			}
		case "myRights":
			// RFC 8621 section 2: every right but renaming and
			// deleting the inbox, keys in encoding/json's order.
			own := mb.Name != store.Inbox
			w.open('{')
			for _, r := range []struct {
				name string
				v    bool
			}{{"mayAddItems", true}, {"mayCreateChild", true}, {"mayDelete", own}, {"mayReadItems", true}, {"mayRemoveItems", true},
				{"mayRename", own}, {"maySetKeywords", true}, {"maySetSeen", true}, {"maySubmit", true}} {
				w.key(r.name)
				w.bool(r.v)
			}
			w.close('}')
		case "isSubscribed":
			w.bool(mb.Subscribed)
		default:
			// Not reached: properties() lets only known properties through.
			w.null()
		}
	}
	w.close('}')
	return nil
}

// threadCounts counts the threads with an email in the mailbox, and
// those of them with an unread email in it (RFC 8621 section 2), for all
// mailboxes in one pass the first time an index is asked.
func threadCounts(x *index, mailbox int64) (all, unread int) {
	x.countsOnce.Do(func() {
		type key struct{ mailbox, thread int64 }
		seen, unseen := map[key]bool{}, map[key]bool{}
		x.counts = map[int64][2]int{}
		for _, e := range x.emails {
			for _, cp := range e.copies {
				k := key{cp.Mailbox, e.thread}
				if !seen[k] {
					seen[k] = true
					n := x.counts[cp.Mailbox]
					n[0]++
					x.counts[cp.Mailbox] = n
				}
				if !unseen[k] && !slices.Contains(cp.Flags, store.FlagSeen) {
					unseen[k] = true
					n := x.counts[cp.Mailbox]
					n[1]++
					x.counts[cp.Mailbox] = n
				}
			}
		}
	})
	n := x.counts[mailbox]
	return n[0], n[1]
}

func (c *call) sortOrder(mb *store.Mailbox) (int, error) {
	entries, err := c.s.Store.Metadata(c.ctx, c.acct, mb.ID)
	if err != nil {
		return 0, fmt.Errorf("reading annotations of mailbox %d: %w", mb.ID, err)
	}
	for _, e := range entries {
		if e.Name == sortOrderKey {
			if n, err := strconv.Atoi(string(e.Value)); err == nil {
				return n, nil
			}
		}
	}
	return defaultSortOrder(mb), nil
}

// getArgs are the arguments of every /get (RFC 8620 section 5.1).
type getArgs struct {
	AccountID  string    `json:"accountId"`
	IDs        *[]string `json:"ids"`
	Properties *[]string `json:"properties"`
	// Email/get only (RFC 8621 section 4.2).
	BodyProperties      *[]string `json:"bodyProperties"`
	FetchTextBodyValues bool      `json:"fetchTextBodyValues"`
	FetchHTMLBodyValues bool      `json:"fetchHTMLBodyValues"`
	FetchAllBodyValues  bool      `json:"fetchAllBodyValues"`
	MaxBodyValueBytes   int       `json:"maxBodyValueBytes"`
}

// properties checks the requested properties against the known ones.
func properties(req *[]string, known, dflt []string, extra func(string) bool) ([]string, error) {
	if req == nil {
		return dflt, nil
	}
	for _, p := range *req {
		if !slices.Contains(known, p) && (extra == nil || !extra(p)) {
			return nil, invalidArgs("unknown property %q", p)
		}
	}
	props := slices.Clone(*req)
	if !slices.Contains(props, "id") && slices.Contains(known, "id") {
		props = append(props, "id")
	}
	return props, nil
}

func (c *call) mailboxGet(raw json.RawMessage) (any, error) {
	var a getArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	props, err := properties(a.Properties, mailboxPropNames, mailboxPropNames, nil)
	if err != nil {
		return nil, err
	}
	if a.IDs != nil && len(*a.IDs) > maxObjectsInGet {
		return nil, mErr("requestTooLarge", "more than maxObjectsInGet ids")
	}
	x, err := c.index()
	if err != nil {
		return nil, err
	}
	props, _ = sortedProps(props)
	w := &jsonw{}
	w.open('{')
	w.key("accountId")
	w.str(accountID(c.acct))
	w.key("list")
	w.open('[')
	var notFound []string
	if a.IDs == nil {
		for i := range x.mailboxes {
			if err := c.writeMailbox(w, x, &x.mailboxes[i], props); err != nil {
				return nil, err
			}
		}
	} else {
		for _, id := range *a.IDs {
			rid, _ := c.resolveID(id)
			mb := x.mbByID[parseID('M', rid)]
			if mb == nil {
				notFound = append(notFound, id)
				continue
			}
			if err := c.writeMailbox(w, x, mb, props); err != nil {
				return nil, err
			}
		}
	}
	w.close(']')
	w.key("notFound")
	w.strs(notFound)
	w.key("state")
	w.str(x.state)
	w.close('}')
	return encoded(w.b), nil
}

// changesArgs are the arguments of every /changes (RFC 8620 section 5.2).
type changesArgs struct {
	AccountID  string `json:"accountId"`
	SinceState string `json:"sinceState"`
	MaxChanges *int   `json:"maxChanges"`
}

func (c *call) mailboxChanges(raw json.RawMessage) (any, error) {
	var a changesArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	x, err := c.index()
	if err != nil {
		return nil, err
	}
	res, err := c.changes(a, changeSpec{
		// A message change moves the mailbox's counts.
		key:     func(ch store.Change) (int64, bool) { return ch.Mailbox, ch.Mailbox != 0 },
		exists:  func(id int64) bool { return x.mbByID[id] != nil },
		creates: func(ch store.Change) bool { return ch.Kind == store.MailboxCreated },
		format:  mailboxID,
	})
	if err != nil {
		return nil, err
	}
	// updatedProperties is null: any property may have changed (RFC 8621
	// section 2.2).
	return struct {
		*changesResult
		UpdatedProperties []string `json:"updatedProperties"`
	}{changesResult: res}, nil
}

// mailboxQuery is Mailbox/query (RFC 8621 section 2.3), with the
// filters and sorts of the RFC; sortAsTree and filterAsTree are honoured
// by listing parents before children.
func (c *call) mailboxQuery(raw json.RawMessage) (any, error) {
	var a struct {
		AccountID string `json:"accountId"`
		mailboxQuerySpec
		Position       int  `json:"position"`
		Limit          *int `json:"limit"`
		CalculateTotal bool `json:"calculateTotal"`
	}
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	x, err := c.index()
	if err != nil {
		return nil, err
	}
	ids, err := c.mailboxResults(x, &a.mailboxQuerySpec)
	if err != nil {
		return nil, err
	}
	out, err := pageResult(c, x.state, ids, a.Position, a.Limit, a.CalculateTotal, nil, 0)
	if err != nil {
		return nil, err
	}
	out.CanCalculateChanges = true
	return out, nil
}

// mailboxQueryChanges is Mailbox/queryChanges (RFC 8620 section 5.6):
// the mailboxes the log touched since the old state are removed and
// added back where they are now. Names, subscriptions and sort orders
// change, so upToId is not used to shorten the answer.
func (c *call) mailboxQueryChanges(raw json.RawMessage) (any, error) {
	var a struct {
		queryChangesArgs
		mailboxQuerySpec
	}
	if err := decodeArgs(raw, &a); err != nil {
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
	for _, ch := range log {
		if ch.UID == 0 && ch.Mailbox != 0 {
			changed[mailboxID(ch.Mailbox)] = true
		}
	}
	ids, err := c.mailboxResults(x, &a.mailboxQuerySpec)
	if err != nil {
		return nil, err
	}
	return queryChangesResult(c, &a.queryChangesArgs, x.state, ids, changed, false)
}

// mailboxQuerySpec is the query of Mailbox/query and
// Mailbox/queryChanges.
type mailboxQuerySpec struct {
	Filter *struct {
		ParentID     json.RawMessage `json:"parentId"`
		Name         *string         `json:"name"`
		Role         json.RawMessage `json:"role"`
		HasAnyRole   *bool           `json:"hasAnyRole"`
		IsSubscribed *bool           `json:"isSubscribed"`
	} `json:"filter"`
	Sort         []comparator `json:"sort"`
	SortAsTree   bool         `json:"sortAsTree"`
	FilterAsTree bool         `json:"filterAsTree"`
}

// mailboxResults runs a mailbox query over x.
func (c *call) mailboxResults(x *index, a *mailboxQuerySpec) ([]string, error) {
	var err error
	var list []*store.Mailbox
	for i := range x.mailboxes {
		mb := &x.mailboxes[i]
		if f := a.Filter; f != nil {
			if f.ParentID != nil {
				var pid *string
				if err := json.Unmarshal(f.ParentID, &pid); err != nil {
					return nil, mErr("unsupportedFilter", "parentId is an id or null")
				}
				parent := ""
				if i := strings.LastIndex(mb.Name, store.Separator); i >= 0 {
					if p := x.mbByName[mb.Name[:i]]; p != nil {
						parent = mailboxID(p.ID)
					}
				}
				if (pid == nil) != (parent == "") || pid != nil && *pid != parent {
					continue
				}
			}
			if f.Name != nil && !strings.Contains(strings.ToLower(leafName(mb.Name)), strings.ToLower(*f.Name)) {
				continue
			}
			if f.Role != nil {
				var role *string
				if err := json.Unmarshal(f.Role, &role); err != nil {
					return nil, mErr("unsupportedFilter", "role is a string or null")
				}
				r, _ := roleOf(mb).(string)
				if role == nil && r != "" || role != nil && *role != r {
					continue
				}
			}
			if f.HasAnyRole != nil && *f.HasAnyRole != (roleOf(mb) != nil) {
				continue
			}
			if f.IsSubscribed != nil && *f.IsSubscribed != mb.Subscribed {
				continue
			}
		}
		list = append(list, mb)
	}
	for _, s := range a.Sort {
		if s.Property != "name" && s.Property != "sortOrder" {
			return nil, mErr("unsupportedSort", "Mailbox/query sorts by name or sortOrder, not %q", s.Property)
		}
	}
	orders := map[int64]int{}
	for _, mb := range list {
		if orders[mb.ID], err = c.sortOrder(mb); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(list, func(p, q *store.Mailbox) int {
		for _, s := range a.Sort {
			r := 0
			if s.Property == "name" {
				r = strings.Compare(leafName(p.Name), leafName(q.Name))
			} else {
				r = orders[p.ID] - orders[q.ID]
			}
			if !s.ascending() {
				r = -r
			}
			if r != 0 {
				return r
			}
		}
		if a.SortAsTree {
			// The store lists names sorted, so parents come first.
			return strings.Compare(p.Name, q.Name)
		}
		return 0
	})
	ids := make([]string, len(list))
	for i, mb := range list {
		ids[i] = mailboxID(mb.ID)
	}
	return ids, nil
}

// comparator is a sort criterion (RFC 8620 section 5.5).
type comparator struct {
	Property    string `json:"property"`
	IsAscending *bool  `json:"isAscending"`
	Collation   string `json:"collation"`
	Keyword     string `json:"keyword"`
}

func (s comparator) ascending() bool { return s.IsAscending == nil || *s.IsAscending }

// queryResult is a /query response (RFC 8620 section 5.5), its fields in
// the order encoding/json sorts a map's keys.
type queryResult struct {
	AccountID           string   `json:"accountId"`
	CanCalculateChanges bool     `json:"canCalculateChanges"`
	IDs                 []string `json:"ids"`
	Limit               *int     `json:"limit,omitempty"`
	Position            int      `json:"position"`
	QueryState          string   `json:"queryState"`
	Total               *int     `json:"total,omitempty"`
}

// pageResult cuts the window of a /query result (RFC 8620 section 5.5):
// by position, or by anchor and anchorOffset.
func pageResult(c *call, state string, ids []string, position int, limit *int, total bool, anchor *string, anchorOffset int) (*queryResult, error) {
	if limit != nil && *limit < 0 {
		return nil, invalidArgs("limit is negative")
	}
	if anchor != nil {
		i := slices.Index(ids, *anchor)
		if i < 0 {
			return nil, mErr("anchorNotFound", "the anchor is not in the results")
		}
		position = max(i+anchorOffset, 0)
	} else if position < 0 {
		position = max(len(ids)+position, 0)
	}
	start := min(position, len(ids))
	end := len(ids)
	if limit != nil {
		end = min(start+*limit, len(ids))
	}
	out := &queryResult{AccountID: accountID(c.acct), QueryState: state, Position: start, IDs: append([]string{}, ids[start:end]...)}
	if total {
		n := len(ids)
		out.Total = &n
	}
	if limit != nil && end-start < *limit {
		n := end - start
		out.Limit = &n
	}
	return out, nil
}

// queryChangesArgs are the arguments every /queryChanges has (RFC 8620
// section 5.6) besides its query's filter and sort.
type queryChangesArgs struct {
	AccountID       string  `json:"accountId"`
	SinceQueryState string  `json:"sinceQueryState"`
	MaxChanges      *int    `json:"maxChanges"`
	UpToID          *string `json:"upToId"`
	CalculateTotal  bool    `json:"calculateTotal"`
}

// changesSince reads the change log after a query state, which is an
// account state (the highest MODSEQ) that x is at or after.
func (c *call) changesSince(queryState string, x *index) ([]store.Change, error) {
	since, err := strconv.ParseUint(queryState, 10, 64)
	if err != nil || since > x.modseq {
		return nil, mErr("cannotCalculateChanges", "%q is not a query state this server gave", queryState)
	}
	log, _, err := c.s.Store.Changes(c.ctx, c.acct, 0, since, 0)
	if err != nil {
		return nil, fmt.Errorf("reading the change log: %w", err)
	}
	return log, nil
}

// queryChangesResult answers a /queryChanges from the current results
// and the objects changed since the old state: every changed object is
// removed, and added back at its index when it is in the results (RFC
// 8620 section 5.6 allows removing objects that were not in the old
// results, and asks for this when the query looks at mutable
// properties). When it looks only at immutable ones and upToId is in the
// results, what lies beyond upToId is left out.
func queryChangesResult(c *call, a *queryChangesArgs, state string, ids []string, changed map[string]bool, immutable bool) (any, error) {
	if a.MaxChanges != nil && *a.MaxChanges <= 0 {
		return nil, invalidArgs("maxChanges must be positive")
	}
	end := len(ids)
	if a.UpToID != nil && immutable {
		if i := slices.Index(ids, *a.UpToID); i >= 0 {
			end = i + 1
		}
	}
	type addedItem struct {
		ID    string `json:"id"`
		Index int    `json:"index"`
	}
	removed, added := []string{}, []addedItem{}
	beyond := map[string]bool{}
	for i, id := range ids {
		if !changed[id] {
			continue
		}
		if i < end {
			added = append(added, addedItem{id, i})
		} else {
			beyond[id] = true
		}
	}
	for id := range changed {
		if !beyond[id] {
			removed = append(removed, id)
		}
	}
	slices.Sort(removed)
	if a.MaxChanges != nil && len(removed)+len(added) > *a.MaxChanges {
		return nil, mErr("tooManyChanges", "%d changes, more than maxChanges; run the query again", len(removed)+len(added))
	}
	out := map[string]any{
		"accountId":     accountID(c.acct),
		"oldQueryState": a.SinceQueryState,
		"newQueryState": state,
		"removed":       removed,
		"added":         added,
	}
	if a.CalculateTotal {
		out["total"] = len(ids)
	}
	return out, nil
}

// setArgs are the arguments of every /set (RFC 8620 section 5.3).
type setArgs struct {
	AccountID string                     `json:"accountId"`
	IfInState *string                    `json:"ifInState"`
	Create    map[string]json.RawMessage `json:"create"`
	Update    map[string]json.RawMessage `json:"update"`
	Destroy   []string                   `json:"destroy"`
	// Mailbox/set only (RFC 8621 section 2.5).
	OnDestroyRemoveEmails bool `json:"onDestroyRemoveEmails"`
	// SieveScript/set only (RFC 9661 section 2.4).
	OnSuccessActivateScript   *string `json:"onSuccessActivateScript"`
	OnSuccessDeactivateScript bool    `json:"onSuccessDeactivateScript"`
}

// setError is a SetError (RFC 8620 section 5.3).
type setError struct {
	Type        string   `json:"type"`
	Description string   `json:"description,omitempty"`
	Properties  []string `json:"properties,omitempty"`
}

func setErr(typ, format string, args ...any) *setError {
	return &setError{Type: typ, Description: fmt.Sprintf(format, args...)}
}

// setResult collects a /set's outcome.
type setResult struct {
	AccountID    string               `json:"accountId"`
	OldState     string               `json:"oldState"`
	NewState     string               `json:"newState"`
	Created      map[string]any       `json:"created"`
	Updated      map[string]any       `json:"updated"`
	Destroyed    []string             `json:"destroyed"`
	NotCreated   map[string]*setError `json:"notCreated"`
	NotUpdated   map[string]*setError `json:"notUpdated"`
	NotDestroyed map[string]*setError `json:"notDestroyed"`
}

// stateIfIn returns the account's state, or a stateMismatch error when
// the client gave ifInState and the state has moved (RFC 8620 section 5.3).
func (c *call) stateIfIn(ifInState *string) (string, error) {
	return stateIn(c.state, ifInState)
}

// stateIn is stateIfIn for any type's state.
func stateIn(stateOf func() (string, error), ifInState *string) (string, error) {
	state, err := stateOf()
	if err != nil {
		return "", err
	}
	if ifInState != nil && *ifInState != state {
		return "", mErr("stateMismatch", "the state is %s, not %s", state, *ifInState)
	}
	return state, nil
}

// beginSet checks the common /set arguments and returns the result to fill.
func (c *call) beginSet(a *setArgs) (*setResult, error) {
	return c.beginSetAt(a, c.state)
}

// beginSetAt is beginSet for a type whose state is not the account's.
func (c *call) beginSetAt(a *setArgs, stateOf func() (string, error)) (*setResult, error) {
	if len(a.Create)+len(a.Update)+len(a.Destroy) > maxObjectsInSet {
		return nil, mErr("requestTooLarge", "more than maxObjectsInSet objects")
	}
	state, err := stateIn(stateOf, a.IfInState)
	if err != nil {
		return nil, err
	}
	return c.newSetResult(state), nil
}

// newSetResult is an empty /set response from state.
func (c *call) newSetResult(state string) *setResult {
	return &setResult{AccountID: accountID(c.acct), OldState: state, Created: map[string]any{}, Updated: map[string]any{},
		Destroyed: []string{}, NotCreated: map[string]*setError{}, NotUpdated: map[string]*setError{}, NotDestroyed: map[string]*setError{}}
}

func (c *call) endSet(r *setResult) (any, error) {
	c.changed()
	state, err := c.state()
	if err != nil {
		return nil, err
	}
	r.NewState = state
	return r, nil
}

// mailboxSet is Mailbox/set (RFC 8621 section 2.5).
func (c *call) mailboxSet(raw json.RawMessage) (any, error) {
	var a setArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	r, err := c.beginSet(&a)
	if err != nil {
		return nil, err
	}
	// Create parents before children: a creation may name another by
	// "#creationId".
	cids := make([]string, 0, len(a.Create))
	for cid := range a.Create {
		cids = append(cids, cid)
	}
	slices.Sort(cids)
	for pending := len(cids) + 1; len(cids) > 0 && len(cids) < pending; {
		pending = len(cids)
		var later []string
		for _, cid := range cids {
			id, serr, wait := c.createMailbox(a.Create[cid])
			switch {
			case wait:
				later = append(later, cid)
			case serr != nil:
				r.NotCreated[cid] = serr
			default:
				c.created[cid] = id
				r.Created[cid] = map[string]any{"id": id, "sortOrder": 10, "totalEmails": 0, "unreadEmails": 0, "totalThreads": 0, "unreadThreads": 0, "isSubscribed": false, "myRights": nil}
			}
		}
		cids = later
	}
	for _, cid := range cids {
		r.NotCreated[cid] = setErr("invalidProperties", "parentId names a creation that failed")
	}
	for id, patch := range a.Update {
		if serr := c.updateMailbox(id, patch); serr != nil {
			r.NotUpdated[id] = serr
		} else {
			r.Updated[id] = nil
		}
	}
	for _, id := range a.Destroy {
		if serr := c.destroyMailbox(id, a.OnDestroyRemoveEmails); serr != nil {
			r.NotDestroyed[id] = serr
		} else {
			r.Destroyed = append(r.Destroyed, id)
		}
	}
	return c.endSet(r)
}

type mailboxInput struct {
	Name         *string         `json:"name"`
	ParentID     json.RawMessage `json:"parentId"`
	Role         json.RawMessage `json:"role"`
	SortOrder    *int            `json:"sortOrder"`
	IsSubscribed *bool           `json:"isSubscribed"`
}

func decodeProps(raw json.RawMessage, v any, readOnly ...string) *setError {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return setErr("invalidProperties", "not an object")
	}
	for _, p := range readOnly {
		if _, ok := m[p]; ok {
			return &setError{Type: "invalidProperties", Description: p + " cannot be set", Properties: []string{p}}
		}
	}
	if err := decodeArgs(raw, v); err != nil {
		return setErr("invalidProperties", "%v", err)
	}
	return nil
}

var mailboxReadOnly = []string{"id", "totalEmails", "unreadEmails", "totalThreads", "unreadThreads", "myRights"}

// parentName resolves parentId to a mailbox name prefix; wait reports a
// parent still to be created in this request.
func (c *call) parentName(x *index, raw json.RawMessage) (name string, serr *setError, wait bool) {
	var pid *string
	if err := json.Unmarshal(raw, &pid); err != nil {
		return "", setErr("invalidProperties", "parentId is an id or null"), false
	}
	if pid == nil {
		return "", nil, false
	}
	id, ok := c.resolveID(*pid)
	if !ok {
		return "", nil, true
	}
	parent := x.mbByID[parseID('M', id)]
	if parent == nil {
		return "", &setError{Type: "invalidProperties", Description: "no such parent", Properties: []string{"parentId"}}, false
	}
	return parent.Name + store.Separator, nil, false
}

func validMailboxName(n string) bool {
	return n != "" && len(n) <= maxSizeMailboxName && !strings.Contains(n, store.Separator)
}

func (c *call) createMailbox(raw json.RawMessage) (string, *setError, bool) {
	var p mailboxInput
	if serr := decodeProps(raw, &p, mailboxReadOnly...); serr != nil {
		return "", serr, false
	}
	if p.Name == nil || !validMailboxName(*p.Name) {
		return "", &setError{Type: "invalidProperties", Description: "a name without " + store.Separator + " is needed", Properties: []string{"name"}}, false
	}
	x, err := c.index()
	if err != nil {
		return "", setErr("serverFail", "%v", err), false
	}
	prefix := ""
	if p.ParentID != nil {
		var serr *setError
		var wait bool
		if prefix, serr, wait = c.parentName(x, p.ParentID); serr != nil || wait {
			return "", serr, wait
		}
	}
	use := ""
	if p.Role != nil {
		var role *string
		if json.Unmarshal(p.Role, &role) != nil {
			return "", setErr("invalidProperties", "role is a string or null"), false
		}
		if role != nil {
			u, ok := useOf(*role)
			if !ok {
				return "", &setError{Type: "invalidProperties", Description: "unknown role", Properties: []string{"role"}}, false
			}
			use = u
		}
	}
	mb, err := c.s.Store.CreateMailbox(c.ctx, c.acct, prefix+*p.Name, use)
	c.changed()
	if errors.Is(err, store.ErrExists) {
		return "", setErr("alreadyExists", "a mailbox with that name exists"), false
	}
	if errors.Is(err, store.ErrInvalidName) {
		return "", &setError{Type: "invalidProperties", Description: err.Error(), Properties: []string{"name"}}, false
	}
	if err != nil {
		return "", setErr("serverFail", "creating the mailbox failed"), false
	}
	if p.IsSubscribed != nil && *p.IsSubscribed {
		if err := c.s.Store.Subscribe(c.ctx, c.acct, mb.Name, true); err != nil {
			return "", setErr("serverFail", "subscribing failed"), false
		}
	}
	if p.SortOrder != nil {
		if serr := c.setSortOrder(mb.ID, *p.SortOrder); serr != nil {
			return "", serr, false
		}
	}
	return mailboxID(mb.ID), nil, false
}

func (c *call) setSortOrder(mb int64, n int) *setError {
	if n < 0 {
		return &setError{Type: "invalidProperties", Description: "sortOrder is unsigned", Properties: []string{"sortOrder"}}
	}
	err := c.s.Store.SetMetadata(c.ctx, c.acct, mb, []store.MetadataEntry{{Name: sortOrderKey, Value: []byte(strconv.Itoa(n))}})
	if err != nil {
		return setErr("serverFail", "storing sortOrder failed")
	}
	return nil
}

// mailboxToSet finds the mailbox a /set update or destroy names, by id
// or by creation reference (RFC 8620 section 5.3).
func (c *call) mailboxToSet(id string) (*index, *store.Mailbox, *setError) {
	x, err := c.index()
	if err != nil {
		return nil, nil, setErr("serverFail", "%v", err)
	}
	rid, _ := c.resolveID(id)
	mb := x.mbByID[parseID('M', rid)]
	if mb == nil {
		return nil, nil, setErr("notFound", "no such mailbox")
	}
	return x, mb, nil
}

func (c *call) updateMailbox(id string, raw json.RawMessage) *setError {
	var p mailboxInput
	if serr := decodeProps(raw, &p, mailboxReadOnly...); serr != nil {
		return serr
	}
	x, mb, serr := c.mailboxToSet(id)
	if serr != nil {
		return serr
	}
	if p.Role != nil {
		var role *string
		if json.Unmarshal(p.Role, &role) != nil || fmt.Sprint(roleOf(mb)) != fmt.Sprint(derefOr(role)) {
			return &setError{Type: "invalidProperties", Description: "a mailbox's role cannot be changed here", Properties: []string{"role"}}
		}
	}
	name := mb.Name
	if p.Name != nil || p.ParentID != nil {
		base := mb.Name[strings.LastIndex(mb.Name, store.Separator)+1:]
		prefix := mb.Name[:len(mb.Name)-len(base)]
		if p.Name != nil {
			if !validMailboxName(*p.Name) {
				return &setError{Type: "invalidProperties", Description: "invalid name", Properties: []string{"name"}}
			}
			base = *p.Name
		}
		if p.ParentID != nil {
			pre, serr, wait := c.parentName(x, p.ParentID)
			if wait {
				serr = setErr("invalidProperties", "unknown parent")
			}
			if serr != nil {
				return serr
			}
			prefix = pre
		}
		name = prefix + base
		if name != mb.Name {
			if mb.Name == store.Inbox {
				return setErr("forbidden", "the inbox cannot be renamed")
			}
			if strings.HasPrefix(name, mb.Name+store.Separator) {
				return &setError{Type: "invalidProperties", Description: "a mailbox cannot move below itself", Properties: []string{"parentId"}}
			}
			err := c.s.Store.RenameMailbox(c.ctx, c.acct, mb.Name, name)
			c.changed()
			if errors.Is(err, store.ErrExists) {
				return setErr("invalidProperties", "a mailbox with that name exists")
			}
			if err != nil {
				return setErr("serverFail", "renaming failed")
			}
		}
	}
	if p.IsSubscribed != nil && *p.IsSubscribed != mb.Subscribed {
		if err := c.s.Store.Subscribe(c.ctx, c.acct, name, *p.IsSubscribed); err != nil {
			return setErr("serverFail", "changing the subscription failed")
		}
		c.changed()
	}
	if p.SortOrder != nil {
		return c.setSortOrder(mb.ID, *p.SortOrder)
	}
	return nil
}

func derefOr(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func (c *call) destroyMailbox(id string, removeEmails bool) *setError {
	x, mb, serr := c.mailboxToSet(id)
	if serr != nil {
		return serr
	}
	if mb.Name == store.Inbox {
		return setErr("forbidden", "the inbox cannot be destroyed")
	}
	if _, ok := x.mbByName[mb.Name]; ok {
		for _, o := range x.mailboxes {
			if strings.HasPrefix(o.Name, mb.Name+store.Separator) {
				return setErr("mailboxHasChild", "the mailbox has child mailboxes")
			}
		}
	}
	if mb.Messages > 0 && !removeEmails {
		return setErr("mailboxHasEmail", "the mailbox has emails; set onDestroyRemoveEmails")
	}
	err := c.s.Store.DeleteMailbox(c.ctx, c.acct, mb.Name)
	c.changed()
	if errors.Is(err, store.ErrHasChildren) {
		return setErr("mailboxHasChild", "the mailbox has child mailboxes")
	}
	if err != nil {
		return setErr("serverFail", "destroying the mailbox failed")
	}
	return nil
}
