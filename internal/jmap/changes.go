package jmap

import (
	"strconv"

	"casella/internal/store"
)

// changeSpec says how a type's */changes reads the change log.
type changeSpec struct {
	// key returns the object a change touches, if any.
	key func(store.Change) (int64, bool)
	// exists reports whether the object exists now.
	exists func(int64) bool
	// creates reports whether a change creates its object.
	creates func(store.Change) bool
	// olderPart, when set, reports whether the object had a part that no
	// change of the window created: then it existed before sinceState
	// even if its first change in the window created something.
	olderPart func(id int64, added map[[2]int64]bool) bool
	format    func(int64) string
}

// changesResult is a /changes response (RFC 8620 section 5.2), its
// fields in the order encoding/json sorts a map's keys.
type changesResult struct {
	AccountID      string   `json:"accountId"`
	Created        []string `json:"created"`
	Destroyed      []string `json:"destroyed"`
	HasMoreChanges bool     `json:"hasMoreChanges"`
	NewState       string   `json:"newState"`
	OldState       string   `json:"oldState"`
	Updated        []string `json:"updated"`
}

// changes answers a /changes from the store's change log (RFC 8620
// section 5.2): an object whose first change in the window created it
// is created, or omitted when it no longer exists; one that existed
// before is updated or destroyed.
func (c *call) changes(a changesArgs, spec changeSpec) (*changesResult, error) {
	since, err := strconv.ParseUint(a.SinceState, 10, 64)
	if err != nil {
		return nil, mErr("cannotCalculateChanges", "%q is not a state this server gave", a.SinceState)
	}
	if a.MaxChanges != nil && *a.MaxChanges <= 0 {
		return nil, invalidArgs("maxChanges must be positive")
	}
	log, highest, err := c.s.Store.Changes(c.ctx, c.acct, 0, since, 0)
	if err != nil {
		return nil, err
	}
	if since > highest {
		return nil, mErr("cannotCalculateChanges", "state %d is ahead of the account's state %d", since, highest)
	}
	type obj struct {
		firstCreates bool
		touchedOld   bool // changed a part that was there before the window
	}
	objs := map[int64]*obj{}
	var order []int64
	added := map[[2]int64]bool{}
	newState := highest
	more := false
	for i, ch := range log {
		id, ok := spec.key(ch)
		if !ok {
			continue
		}
		o := objs[id]
		if o == nil {
			if a.MaxChanges != nil && len(order) >= *a.MaxChanges {
				// Stop at a MODSEQ boundary: the state given back must
				// include every change up to it.
				if i > 0 && log[i-1].ModSeq == ch.ModSeq {
					return nil, mErr("cannotCalculateChanges", "more than maxChanges objects changed at once")
				}
				newState, more = log[i-1].ModSeq, true
				break
			}
			o = &obj{firstCreates: spec.creates(ch)}
			objs[id] = o
			order = append(order, id)
		}
		part := [2]int64{ch.Mailbox, int64(ch.UID)}
		if ch.Kind == store.MessageAdded {
			added[part] = true
		} else if ch.UID != 0 && !added[part] {
			o.touchedOld = true
		}
	}
	created, updated, destroyed := []string{}, []string{}, []string{}
	for _, id := range order {
		o := objs[id]
		existed := !o.firstCreates || o.touchedOld || spec.olderPart != nil && spec.olderPart(id, added)
		switch {
		case spec.exists(id) && existed:
			updated = append(updated, spec.format(id))
		case spec.exists(id):
			created = append(created, spec.format(id))
		case existed:
			destroyed = append(destroyed, spec.format(id))
		}
	}
	return &changesResult{AccountID: accountID(c.acct), OldState: a.SinceState, NewState: strconv.FormatUint(newState, 10),
		HasMoreChanges: more, Created: created, Updated: updated, Destroyed: destroyed}, nil
}
