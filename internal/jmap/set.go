package jmap

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"casella/internal/blob"
	"casella/internal/message"
	"casella/internal/store"
)

// emailSet is Email/set (RFC 8621 section 4.6): emails are created
// (create.go), their keywords and mailboxIds updated, or destroyed.
func (c *call) emailSet(raw json.RawMessage) (any, error) {
	var a setArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	r, err := c.beginSet(&a)
	if err != nil {
		return nil, err
	}
	for cid, props := range a.Create {
		info, serr, err := c.createEmail(props)
		if err != nil {
			return nil, err
		}
		if serr != nil {
			r.NotCreated[cid] = serr
			continue
		}
		c.created[cid] = info["id"].(string)
		r.Created[cid] = info
	}
	for id, patch := range a.Update {
		if serr := c.updateEmail(id, patch); serr != nil {
			r.NotUpdated[id] = serr
		} else {
			r.Updated[id] = nil
		}
	}
	for _, id := range a.Destroy {
		if serr := c.destroyEmail(id); serr != nil {
			r.NotDestroyed[id] = serr
		} else {
			r.Destroyed = append(r.Destroyed, id)
		}
	}
	return c.endSet(r)
}

func one(uid uint32) []store.UIDRange { return []store.UIDRange{{First: uid, Last: uid}} }

// updateEmail applies a patch of keywords and mailboxIds (RFC 8620
// section 5.3 PatchObject).
// emailToSet finds the email an Email/set update or destroy names, by id
// or by creation reference (RFC 8620 section 5.3).
func (c *call) emailToSet(id string) (*index, *email, *setError) {
	x, err := c.index()
	if err != nil {
		return nil, nil, setErr("serverFail", "%v", err)
	}
	rid, _ := c.resolveID(id)
	e := x.emails[parseID('E', rid)]
	if e == nil {
		return nil, nil, setErr("notFound", "no such email")
	}
	return x, e, nil
}

func (c *call) updateEmail(id string, raw json.RawMessage) *setError {
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(raw, &patch); err != nil {
		return setErr("invalidPatch", "a patch is an object")
	}
	x, e, serr := c.emailToSet(id)
	if serr != nil {
		return serr
	}
	kw := keywordsOf(e.flags())
	mbs := map[int64]bool{}
	for _, cp := range e.copies {
		mbs[cp.Mailbox] = true
	}
	kwChanged, mbChanged := false, false
	// Keywords patched one by one are added and removed as such, not by
	// writing the whole set read before: two clients (or two quick
	// clicks) patching different keywords of one message at once both
	// keep theirs (RFC 8620 section 5.3 patches are per path).
	whole, added, removed := false, map[string]bool{}, map[string]bool{}
	for path, v := range patch {
		bad := &setError{Type: "invalidProperties", Description: "cannot set " + path, Properties: []string{path}}
		switch {
		case path == "keywords":
			flags, err := keywordsValue(v)
			if err != nil {
				return &setError{Type: "invalidProperties", Description: err.Error(), Properties: []string{"keywords"}}
			}
			kw = keywordsOf(flags)
			kwChanged, whole = true, true
		case strings.HasPrefix(path, "keywords/"):
			k := strings.ToLower(unescapePointer(path[len("keywords/"):]))
			var on *bool
			if json.Unmarshal(v, &on) != nil || on != nil && !*on || !validKeyword(k) {
				return bad
			}
			if on == nil {
				delete(kw, k)
				delete(added, k)
				removed[k] = true
			} else {
				kw[k] = true
				delete(removed, k)
				added[k] = true
			}
			kwChanged = true
		case path == "mailboxIds":
			var ids map[string]bool
			if json.Unmarshal(v, &ids) != nil {
				return bad
			}
			mbs = map[int64]bool{}
			for mid, on := range ids {
				rmid, _ := c.resolveID(mid)
				if !on || x.mbByID[parseID('M', rmid)] == nil {
					return bad
				}
				mbs[parseID('M', rmid)] = true
			}
			mbChanged = true
		case strings.HasPrefix(path, "mailboxIds/"):
			rmid, _ := c.resolveID(unescapePointer(path[len("mailboxIds/"):]))
			mb := parseID('M', rmid)
			var on *bool
			if json.Unmarshal(v, &on) != nil || on != nil && !*on || x.mbByID[mb] == nil {
				return bad
			}
			if on == nil {
				delete(mbs, mb)
			} else {
				mbs[mb] = true
			}
			mbChanged = true
		default:
			return bad
		}
	}
	if len(mbs) == 0 {
		return &setError{Type: "invalidProperties", Description: "an email is in at least one mailbox", Properties: []string{"mailboxIds"}}
	}
	defer c.changed()
	flagsOf := func(kw map[string]bool) []string {
		flags := []string{}
		for k := range kw {
			flags = append(flags, flagOf(k))
		}
		return flags
	}
	for _, cp := range e.copies {
		var updates []store.FlagUpdate
		switch {
		case whole:
			f := flagsOf(kw)
			if slices.Contains(cp.Flags, store.FlagDeleted) {
				f = append(f, store.FlagDeleted)
			}
			updates = append(updates, store.FlagUpdate{Op: store.FlagsReplace, Flags: f})
		case kwChanged:
			if len(added) > 0 {
				updates = append(updates, store.FlagUpdate{Op: store.FlagsAdd, Flags: flagsOf(added)})
			}
			if len(removed) > 0 {
				updates = append(updates, store.FlagUpdate{Op: store.FlagsRemove, Flags: flagsOf(removed)})
			}
		}
		for _, u := range updates {
			u.Mailbox, u.UIDs = cp.Mailbox, one(cp.UID)
			_, err := c.s.Store.UpdateFlags(c.ctx, c.acct, u)
			if errors.Is(err, store.ErrTooManyKeywords) {
				return setErr("overQuota", "too many keywords in the mailbox")
			}
			if err != nil {
				return setErr("serverFail", "updating keywords failed")
			}
		}
	}
	if !mbChanged {
		return nil
	}
	var remove []store.Message
	for _, cp := range e.copies {
		if !mbs[cp.Mailbox] {
			remove = append(remove, cp)
		}
		delete(mbs, cp.Mailbox)
	}
	var add []int64
	for mb := range mbs {
		add = append(add, mb)
	}
	slices.Sort(add)
	src := e.copies[0]
	// A move is one atomic step (RFC 6851), what an IMAP client sees as
	// MOVE; other changes copy first, then remove.
	if len(add) > 0 && len(remove) > 0 {
		if _, err := c.s.Store.Move(c.ctx, c.acct, remove[0].Mailbox, one(remove[0].UID), add[0]); err != nil {
			return setErr("serverFail", "moving failed")
		}
		add, remove = add[1:], remove[1:]
	}
	for _, mb := range add {
		if _, err := c.s.Store.Copy(c.ctx, c.acct, src.Mailbox, one(src.UID), mb); err != nil {
			return setErr("serverFail", "copying failed")
		}
	}
	for _, cp := range remove {
		if err := c.expunge(cp); err != nil {
			return setErr("serverFail", "removing from a mailbox failed")
		}
	}
	return nil
}

func unescapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}

// expunge removes one message from its mailbox.
func (c *call) expunge(m store.Message) error {
	if _, err := c.s.Store.UpdateFlags(c.ctx, c.acct, store.FlagUpdate{Mailbox: m.Mailbox, UIDs: one(m.UID), Op: store.FlagsAdd, Flags: []string{store.FlagDeleted}}); err != nil {
		return fmt.Errorf("flagging for removal: %w", err)
	}
	if _, err := c.s.Store.Expunge(c.ctx, c.acct, m.Mailbox, one(m.UID)); err != nil {
		return fmt.Errorf("expunging: %w", err)
	}
	return nil
}

func (c *call) destroyEmail(id string) *setError {
	_, e, serr := c.emailToSet(id)
	if serr != nil {
		return serr
	}
	defer c.changed()
	for _, cp := range e.copies {
		if err := c.expunge(cp); err != nil {
			return setErr("serverFail", "destroying failed")
		}
	}
	return nil
}

// emailImport is Email/import (RFC 8621 section 4.8).
func (c *call) emailImport(raw json.RawMessage) (any, error) {
	var a struct {
		AccountID string  `json:"accountId"`
		IfInState *string `json:"ifInState"`
		Emails    map[string]struct {
			BlobID     string          `json:"blobId"`
			MailboxIDs map[string]bool `json:"mailboxIds"`
			Keywords   json.RawMessage `json:"keywords"`
			ReceivedAt *time.Time      `json:"receivedAt"`
		} `json:"emails"`
	}
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	if a.Emails == nil {
		return nil, invalidArgs("emails is required")
	}
	if len(a.Emails) > maxObjectsInSet {
		return nil, mErr("requestTooLarge", "more than maxObjectsInSet emails")
	}
	state, err := c.stateIfIn(a.IfInState)
	if err != nil {
		return nil, err
	}
	created, notCreated := map[string]any{}, map[string]*setError{}
	for cid, em := range a.Emails {
		x, err := c.index()
		if err != nil {
			return nil, err
		}
		var mbs []int64
		for mid, on := range em.MailboxIDs {
			rmid, _ := c.resolveID(mid)
			mb := parseID('M', rmid)
			if !on || x.mbByID[mb] == nil {
				mbs = nil
				break
			}
			mbs = append(mbs, mb)
		}
		if len(mbs) == 0 {
			notCreated[cid] = &setError{Type: "invalidProperties", Description: "mailboxIds must name existing mailboxes", Properties: []string{"mailboxIds"}}
			continue
		}
		slices.Sort(mbs)
		var flags []string
		if len(em.Keywords) > 0 && string(em.Keywords) != "null" {
			if flags, err = keywordsValue(em.Keywords); err != nil {
				notCreated[cid] = &setError{Type: "invalidProperties", Description: err.Error(), Properties: []string{"keywords"}}
				continue
			}
		}
		data, err := c.readBlob(em.BlobID)
		if errors.Is(err, blob.ErrNotFound) {
			notCreated[cid] = &setError{Type: "blobNotFound", Description: "no such blob", Properties: []string{"blobId"}}
			continue
		}
		if err != nil {
			return nil, err
		}
		key := blob.KeyOf(data)
		if key != blob.Key(strings.SplitN(em.BlobID, "_", 2)[0]) {
			// A part's decoded content is a new blob.
			if key, err = c.blobs.Put(c.ctx, data); err != nil {
				return nil, err
			}
		}
		var received time.Time
		if em.ReceivedAt != nil {
			received = *em.ReceivedAt
		}
		info, serr, err := c.addEmail(data, key, mbs, flags, received)
		if err != nil {
			return nil, err
		}
		if serr != nil {
			notCreated[cid] = serr
			continue
		}
		c.created[cid] = info["id"].(string)
		created[cid] = info
	}
	newState, err := c.state()
	if err != nil {
		return nil, err
	}
	return map[string]any{"accountId": accountID(c.acct), "oldState": state, "newState": newState, "created": created, "notCreated": notCreated}, nil
}

// addEmail stores a message whose bytes are in the blob store under key
// in the mailboxes, and returns what a /set or /import reports of it.
func (c *call) addEmail(data []byte, key blob.Key, mbs []int64, flags []string, received time.Time) (map[string]any, *setError, error) {
	nm := store.NewMessage{Blob: key, Size: int64(len(data)), Flags: flags, Internal: received, Meta: message.Parse(data)}
	uids, err := c.s.Store.Append(c.ctx, c.acct, mbs[0], []store.NewMessage{nm})
	c.changed()
	if errors.Is(err, store.ErrTooManyKeywords) {
		return nil, &setError{Type: "overQuota", Description: "too many keywords in the mailbox", Properties: []string{"keywords"}}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var m store.Message
	err = c.s.Store.Messages(c.ctx, c.acct, store.Query{Mailbox: mbs[0], UIDs: one(uids[0])}, func(msg *store.Message) error {
		m = *msg
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for _, mb := range mbs[1:] {
		if _, err := c.s.Store.Copy(c.ctx, c.acct, mbs[0], one(uids[0]), mb); err != nil {
			return nil, nil, err
		}
	}
	return map[string]any{"id": emailID(m.EmailID), "blobId": string(key), "threadId": threadID(m.ThreadID), "size": nm.Size}, nil, nil
}

// emailParse is Email/parse (RFC 8621 section 4.9).
func (c *call) emailParse(raw json.RawMessage) (any, error) {
	var a struct {
		getArgs
		BlobIDs []string `json:"blobIds"`
	}
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	if len(a.BlobIDs) > maxObjectsInGet {
		return nil, mErr("requestTooLarge", "more than maxObjectsInGet blobIds")
	}
	parseProps := slices.DeleteFunc(slices.Clone(emailDefault), func(p string) bool {
		return slices.Contains([]string{"id", "mailboxIds", "keywords", "receivedAt"}, p)
	})
	props, err := properties(a.Properties, emailProps, parseProps, isHeaderProp)
	if err != nil {
		return nil, err
	}
	bprops, err := properties(a.BodyProperties, bodyProps, bodyDefault, isHeaderProp)
	if err != nil {
		return nil, err
	}
	// parsed is an object by blob id, its keys sorted and each once as
	// encoding/json writes a map's.
	type parsedEmail struct {
		id   string
		meta *message.Meta
		data []byte
	}
	var parsed []parsedEmail
	var notFound []string
	for _, id := range a.BlobIDs {
		data, err := c.readBlob(id)
		if errors.Is(err, blob.ErrNotFound) {
			notFound = append(notFound, id)
			continue
		}
		if err != nil {
			return nil, err
		}
		parsed = append(parsed, parsedEmail{id, message.Parse(data), data})
	}
	slices.SortStableFunc(parsed, func(a, b parsedEmail) int { return strings.Compare(a.id, b.id) })
	parsed = slices.CompactFunc(parsed, func(a, b parsedEmail) bool { return a.id == b.id })
	ew := newEmailWriter(props, bprops, &a.getArgs)
	w := &jsonw{}
	w.open('{')
	w.key("accountId")
	w.str(accountID(c.acct))
	w.key("notFound")
	w.strs(notFound)
	w.key("notParsable")
	w.strs(nil)
	w.key("parsed")
	w.open('{')
	for _, pe := range parsed {
		w.key(pe.id)
		w.open('{')
		for i, p := range ew.props {
			switch p {
			case "id", "mailboxIds", "keywords", "receivedAt", "threadId":
				w.key(p)
				w.null()
			case "blobId":
				w.key(p)
				w.str(pe.id)
			case "size":
				w.key(p)
				w.int(int64(len(pe.data)))
			default:
				ew.messageProp(w, i, pe.meta, pe.data, strings.SplitN(pe.id, "_", 2)[0])
			}
		}
		w.close('}')
	}
	w.close('}')
	w.close('}')
	return encoded(w.b), nil
}

// identityGet is Identity/get (RFC 8621 section 6.1): one identity, the
// account's own address.
func (c *call) identityGet(raw json.RawMessage) (any, error) {
	var a getArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	id := identityID(c)
	ident := map[string]any{"id": id, "name": "", "email": c.ss.acct.Address, "replyTo": nil, "bcc": nil,
		"textSignature": "", "htmlSignature": "", "mayDelete": false}
	list, notFound := []any{}, []string{}
	if a.IDs == nil || slices.Contains(*a.IDs, id) {
		list = append(list, ident)
	}
	if a.IDs != nil {
		for _, x := range *a.IDs {
			if x != id {
				notFound = append(notFound, x)
			}
		}
	}
	return map[string]any{"accountId": accountID(c.acct), "state": sessionState, "list": list, "notFound": notFound}, nil
}
