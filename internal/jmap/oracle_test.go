package jmap

// The map-based writers of Email, Mailbox and Thread objects that the
// jsonw writers replaced, kept only as the oracle of
// TestEncodersMatchMaps: what json.Marshal made of their maps is what
// the writers must write, byte for byte.

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"casella/internal/blob"
	"casella/internal/message"
	"casella/internal/store"
)

// oldEmailGet is Email/get (RFC 8621 section 4.2).
func (c *call) oldEmailGet(raw json.RawMessage) (any, error) {
	var a getArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	props, err := properties(a.Properties, emailProps, emailDefault, isHeaderProp)
	if err != nil {
		return nil, err
	}
	bprops, err := properties(a.BodyProperties, bodyProps, bodyDefault, isHeaderProp)
	if err != nil {
		return nil, err
	}
	if a.MaxBodyValueBytes < 0 {
		return nil, invalidArgs("maxBodyValueBytes is negative")
	}
	x, err := c.index()
	if err != nil {
		return nil, err
	}
	state := x.state
	var ids []string
	if a.IDs == nil {
		for _, e := range x.emails {
			if len(ids) == maxObjectsInGet {
				break
			}
			ids = append(ids, emailID(e.id))
		}
	} else {
		if len(*a.IDs) > maxObjectsInGet {
			return nil, mErr("requestTooLarge", "more than maxObjectsInGet ids")
		}
		ids = *a.IDs
	}
	list, notFound := []any{}, []string{}
	var found []*email
	for _, id := range ids {
		rid, _ := c.resolveID(id)
		if e := x.emails[parseID('E', rid)]; e != nil {
			found = append(found, e)
		}
	}
	if slices.ContainsFunc(props, func(p string) bool { return !slices.Contains(indexProps, p) }) {
		if err := c.loadMetaOf(found); err != nil {
			return nil, err
		}
	}
	for _, id := range ids {
		rid, _ := c.resolveID(id)
		e := x.emails[parseID('E', rid)]
		if e == nil {
			notFound = append(notFound, id)
			continue
		}
		o, err := c.oldEmailObject(x, e, props, bprops, &a)
		if err != nil {
			return nil, err
		}
		list = append(list, o)
	}
	return map[string]any{"accountId": accountID(c.acct), "state": state, "list": list, "notFound": notFound}, nil
}

func (c *call) oldEmailObject(x *index, e *email, props, bprops []string, a *getArgs) (map[string]any, error) {
	var meta *message.Meta
	if slices.ContainsFunc(props, func(p string) bool { return !slices.Contains(indexProps, p) }) {
		var err error
		if meta, err = c.metaOf(e); err != nil {
			return nil, err
		}
	}
	var raw []byte
	var err error
	if slices.ContainsFunc(props, needsRaw) {
		if raw, err = c.blobs.Get(c.ctx, e.blob); err != nil {
			return nil, fmt.Errorf("reading email %d: %w", e.id, err)
		}
	}
	o := map[string]any{}
	for _, p := range props {
		switch p {
		case "id":
			o[p] = emailID(e.id)
		case "threadId":
			o[p] = threadID(e.thread)
		case "mailboxIds":
			ids := map[string]bool{}
			for _, cp := range e.copies {
				ids[mailboxID(cp.Mailbox)] = true
			}
			o[p] = ids
		case "keywords":
			o[p] = keywordsOf(e.flags())
		case "size":
			o[p] = e.size
		case "receivedAt":
			o[p] = utcDate(e.received)
		case "blobId":
			o[p] = string(e.blob)
		default:
			v, ok := oldMessageProp(p, meta, raw, string(e.blob), bprops, a)
			if ok {
				o[p] = v
			}
		}
	}
	return o, nil
}

// oldMessageProp computes the properties that come from the message itself,
// which Email/get and Email/parse share (RFC 8621 sections 4.1.2-4.1.4).
func oldMessageProp(p string, meta *message.Meta, raw []byte, key string, bprops []string, a *getArgs) (any, bool) {
	env := &meta.Envelope
	switch p {
	case "messageId":
		return oldNilIfEmpty(message.MessageIDs(env.MessageID)), true
	case "inReplyTo":
		return oldNilIfEmpty(message.MessageIDs(env.InReplyTo)), true
	case "references":
		if raw == nil {
			return oldNilIfEmpty(meta.References), true
		}
		return oldHeaderValue(raw, meta.Structure, headerProp{name: "References", form: "MessageIds"}), true
	case "sender":
		return oldAddresses(env.Sender), true
	case "from":
		return oldAddresses(env.From), true
	case "to":
		return oldAddresses(env.To), true
	case "cc":
		return oldAddresses(env.Cc), true
	case "bcc":
		return oldAddresses(env.Bcc), true
	case "replyTo":
		return oldAddresses(env.ReplyTo), true
	case "subject":
		if env.Subject == "" && env.RawDate == "" && env.MessageID == "" {
			return nil, true
		}
		return env.Subject, true
	case "sentAt":
		if env.Date.IsZero() {
			return nil, true
		}
		return env.Date.Format(time.RFC3339), true
	case "hasAttachment":
		return meta.HasAttachment, true
	case "preview":
		return meta.Preview, true
	case "headers":
		return oldHeaderList(raw, meta.Structure), true
	case "bodyStructure":
		return oldBodyPart(raw, key, meta.Structure, "", bprops, true), true
	case "textBody", "htmlBody", "attachments":
		text, html, att := bodyLists(meta.Structure)
		l := map[string][]partRef{"textBody": text, "htmlBody": html, "attachments": att}[p]
		out := []any{}
		for _, r := range l {
			out = append(out, oldBodyPart(raw, key, r.part, r.id, bprops, false))
		}
		return out, true
	case "bodyValues":
		text, html, _ := bodyLists(meta.Structure)
		vals := map[string]any{}
		add := func(l []partRef) {
			for _, r := range l {
				if r.part.Type == "text" {
					vals[r.id] = oldBodyValue(raw, r.part, a.MaxBodyValueBytes)
				}
			}
		}
		if a.FetchTextBodyValues || a.FetchAllBodyValues {
			add(text)
		}
		if a.FetchHTMLBodyValues || a.FetchAllBodyValues {
			add(html)
		}
		return vals, true
	}
	if hp, err := parseHeaderProp(p); err == nil && raw != nil {
		return oldHeaderValue(raw, meta.Structure, hp), true
	}
	return nil, false
}

func oldNilIfEmpty(l []string) any {
	if len(l) == 0 {
		return nil
	}
	return l
}

// oldAddresses renders an envelope list as EmailAddress objects, groups
// flattened (RFC 8621 section 4.1.2.3).
func oldAddresses(l []message.Address) any {
	if len(l) == 0 {
		return nil
	}
	out := []map[string]any{}
	for _, a := range l {
		if a.Group != message.Mailbox {
			continue
		}
		out = append(out, oldEmailAddress(a))
	}
	return out
}

func oldEmailAddress(a message.Address) map[string]any {
	var name any
	if a.Name != "" {
		name = a.Name
	}
	email := a.Local
	if a.Host != "" {
		email += "@" + a.Host
	}
	return map[string]any{"name": name, "email": email}
}

// oldGroupedAddresses renders a list as EmailAddressGroup objects (RFC 8621
// section 4.1.2.4).
func oldGroupedAddresses(l []message.Address) []map[string]any {
	out := []map[string]any{}
	var cur map[string]any
	for _, a := range l {
		switch a.Group {
		case message.GroupStart:
			cur = map[string]any{"name": a.Name, "addresses": []map[string]any{}}
			out = append(out, cur)
		case message.GroupEnd:
			cur = nil
		default:
			if cur == nil {
				if len(out) == 0 || out[len(out)-1]["name"] != nil {
					out = append(out, map[string]any{"name": nil, "addresses": []map[string]any{}})
				}
				last := out[len(out)-1]
				last["addresses"] = append(last["addresses"].([]map[string]any), oldEmailAddress(a))
			} else {
				cur["addresses"] = append(cur["addresses"].([]map[string]any), oldEmailAddress(a))
			}
		}
	}
	return out
}

func oldHeaderList(raw []byte, p *message.Part) []map[string]string {
	out := []map[string]string{}
	for _, f := range message.Fields(raw, p) {
		out = append(out, map[string]string{"name": f.Name, "value": f.Value})
	}
	return out
}

// oldHeaderValue is a header:Name:asForm property (RFC 8621 section 4.1.2):
// the last field of the name, or every one with :all.
func oldHeaderValue(raw []byte, p *message.Part, hp headerProp) any {
	var vals []any
	for _, f := range message.Fields(raw, p) {
		if strings.EqualFold(f.Name, hp.name) {
			vals = append(vals, oldHeaderForm(f.Value, hp.form))
		}
	}
	if hp.all {
		if vals == nil {
			return []any{}
		}
		return vals
	}
	if len(vals) == 0 {
		return nil
	}
	return vals[len(vals)-1]
}

func oldHeaderForm(v, form string) any {
	switch form {
	case "Text":
		return message.DecodeText(v)
	case "Addresses":
		return oldAddresses(message.AddressList(v))
	case "GroupedAddresses":
		return oldGroupedAddresses(message.AddressList(v))
	case "MessageIds":
		return oldNilIfEmpty(message.MessageIDs(v))
	case "Date":
		t, err := message.ParseDate(v)
		if err != nil {
			return nil
		}
		return t.Format(time.RFC3339)
	case "URLs":
		var urls []string
		for _, s := range strings.Split(message.Unfold(v), ",") {
			s = strings.TrimSpace(s)
			if strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
				urls = append(urls, s[1:len(s)-1])
			}
		}
		return oldNilIfEmpty(urls)
	}
	return v
}

// oldBodyPart renders an EmailBodyPart (RFC 8621 section 4.1.4).
func oldBodyPart(raw []byte, key string, p *message.Part, id string, props []string, tree bool) map[string]any {
	o := map[string]any{}
	for _, prop := range props {
		switch prop {
		case "partId":
			if p.Type != "multipart" {
				o[prop] = id
			} else {
				o[prop] = nil
			}
		case "blobId":
			if p.Type != "multipart" && raw != nil {
				o[prop] = partBlobID(key, id)
			} else {
				o[prop] = nil
			}
		case "size":
			if b, err := message.DecodeBody(raw, p); err == nil && raw != nil {
				o[prop] = len(b)
			} else {
				o[prop] = p.BodyEnd - p.BodyStart
			}
		case "headers":
			o[prop] = oldHeaderList(raw, p)
		case "name":
			o[prop] = nil
			if n := p.DispositionParams["filename"]; n != "" {
				o[prop] = n
			} else if n := p.Params["name"]; n != "" {
				o[prop] = n
			}
		case "type":
			o[prop] = p.Type + "/" + p.Subtype
		case "charset":
			o[prop] = nil
			if cs := p.Params["charset"]; cs != "" {
				o[prop] = cs
			} else if p.Type == "text" {
				o[prop] = "us-ascii"
			}
		case "disposition":
			o[prop] = nil
			if p.Disposition != "" {
				o[prop] = p.Disposition
			}
		case "cid":
			o[prop] = nil
			if p.ID != "" {
				o[prop] = strings.Trim(p.ID, "<> ")
			}
		case "language":
			o[prop] = nil
			if len(p.Language) > 0 {
				o[prop] = p.Language
			}
		case "location":
			o[prop] = nil
			if p.Location != "" {
				o[prop] = p.Location
			}
		case "subParts":
			if tree && p.Type == "multipart" {
				subs := []any{}
				for i, c := range p.Parts {
					subs = append(subs, oldBodyPart(raw, key, c, childID(id, i), props, true))
				}
				o[prop] = subs
			}
		default:
			if hp, err := parseHeaderProp(prop); err == nil {
				o[prop] = oldHeaderValue(raw, p, hp)
			}
		}
	}
	if tree && p.Type == "multipart" && !slices.Contains(props, "subParts") {
		subs := []any{}
		for i, c := range p.Parts {
			subs = append(subs, oldBodyPart(raw, key, c, childID(id, i), props, true))
		}
		o["subParts"] = subs
	}
	return o
}

// oldBodyValue is an EmailBodyValue (RFC 8621 section 4.1.4), cut to max
// bytes on a character boundary when max is not 0.
func oldBodyValue(raw []byte, p *message.Part, max int) map[string]any {
	text, err := message.Text(raw, p)
	problem := err != nil || strings.ContainsRune(text, utf8.RuneError)
	truncated := false
	if max > 0 && len(text) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text, truncated = text[:cut], true
	}
	return map[string]any{"value": text, "isEncodingProblem": problem, "isTruncated": truncated}
}

// oldThreadGet is Thread/get (RFC 8621 section 3.1).
func (c *call) oldThreadGet(raw json.RawMessage) (any, error) {
	var a getArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	if _, err := properties(a.Properties, []string{"id", "emailIds"}, nil, nil); err != nil {
		return nil, err
	}
	if a.IDs != nil && len(*a.IDs) > maxObjectsInGet {
		return nil, mErr("requestTooLarge", "more than maxObjectsInGet ids")
	}
	x, err := c.index()
	if err != nil {
		return nil, err
	}
	state := x.state
	var ids []string
	if a.IDs != nil {
		ids = *a.IDs
	} else {
		// All threads, as long as they fit one response.
		if len(x.threads) > maxObjectsInGet {
			return nil, mErr("requestTooLarge", "the account has more than maxObjectsInGet threads; give ids")
		}
		for t := range x.threads {
			ids = append(ids, threadID(t))
		}
	}
	list, notFound := []any{}, []string{}
	for _, id := range ids {
		l := x.threads[parseID('T', id)]
		if len(l) == 0 {
			notFound = append(notFound, id)
			continue
		}
		ids := make([]string, len(l))
		for i, e := range l {
			ids[i] = emailID(e.id)
		}
		list = append(list, map[string]any{"id": id, "emailIds": ids})
	}
	return map[string]any{"accountId": accountID(c.acct), "state": state, "list": list, "notFound": notFound}, nil
}

func (c *call) oldMailboxObject(x *index, mb *store.Mailbox, props []string) (map[string]any, error) {
	o := map[string]any{}
	for _, p := range props {
		switch p {
		case "id":
			o[p] = mailboxID(mb.ID)
		case "name":
			o[p] = leafName(mb.Name)
		case "parentId":
			o[p] = nil
			if i := strings.LastIndex(mb.Name, store.Separator); i >= 0 {
				if parent := x.mbByName[mb.Name[:i]]; parent != nil {
					o[p] = mailboxID(parent.ID)
				}
			}
		case "role":
			o[p] = roleOf(mb)
		case "sortOrder":
			n, err := c.sortOrder(mb)
			if err != nil {
				return nil, err
			}
			o[p] = n
		case "totalEmails":
			o[p] = mb.Messages
		case "unreadEmails":
			o[p] = mb.Unseen
		case "totalThreads", "unreadThreads":
			all, unread := threadCounts(x, mb.ID)
			if p == "totalThreads" {
				o[p] = all
			} else {
				o[p] = unread
			}
		case "myRights":
			own := mb.Name != store.Inbox
			o[p] = map[string]bool{"mayReadItems": true, "mayAddItems": true, "mayRemoveItems": true, "maySetSeen": true, "maySetKeywords": true,
				"mayCreateChild": true, "mayRename": own, "mayDelete": own, "maySubmit": true}
		case "isSubscribed":
			o[p] = mb.Subscribed
		}
	}
	return o, nil
}

func (c *call) oldMailboxGet(raw json.RawMessage) (any, error) {
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
	state := x.state
	list, notFound := []any{}, []string{}
	add := func(mb *store.Mailbox) error {
		o, err := c.oldMailboxObject(x, mb, props)
		if err == nil {
			list = append(list, o)
		}
		return err
	}
	if a.IDs == nil {
		for i := range x.mailboxes {
			if err := add(&x.mailboxes[i]); err != nil {
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
			if err := add(mb); err != nil {
				return nil, err
			}
		}
	}
	return map[string]any{"accountId": accountID(c.acct), "state": state, "list": list, "notFound": notFound}, nil
}

// oldEmailParse is Email/parse (RFC 8621 section 4.9).
func (c *call) oldEmailParse(raw json.RawMessage) (any, error) {
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
	parsed, notParsable, notFound := map[string]any{}, []string{}, []string{}
	for _, id := range a.BlobIDs {
		data, err := c.readBlob(id)
		if errors.Is(err, blob.ErrNotFound) {
			notFound = append(notFound, id)
			continue
		}
		if err != nil {
			return nil, err
		}
		meta := message.Parse(data)
		o := map[string]any{}
		for _, p := range props {
			switch p {
			case "id", "mailboxIds", "keywords", "receivedAt", "threadId":
				o[p] = nil
			case "blobId":
				o[p] = id
			case "size":
				o[p] = len(data)
			default:
				if v, ok := oldMessageProp(p, meta, data, strings.SplitN(id, "_", 2)[0], bprops, &a.getArgs); ok {
					o[p] = v
				}
			}
		}
		parsed[id] = o
	}
	return map[string]any{"accountId": accountID(c.acct), "parsed": parsed, "notParsable": notParsable, "notFound": notFound}, nil
}
