package jmap

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"casella/internal/message"
	"casella/internal/store"
)

// Email properties (RFC 8621 section 4.1) and the defaults of Email/get.
var (
	emailProps = []string{"id", "blobId", "threadId", "mailboxIds", "keywords", "size", "receivedAt",
		"messageId", "inReplyTo", "references", "sender", "from", "to", "cc", "bcc", "replyTo", "subject",
		"sentAt", "hasAttachment", "preview", "bodyValues", "textBody", "htmlBody", "attachments",
		"headers", "bodyStructure"}
	emailDefault = emailProps[:24]
	bodyProps    = []string{"partId", "blobId", "size", "headers", "name", "type", "charset", "disposition", "cid", "language", "location", "subParts"}
	bodyDefault  = []string{"partId", "blobId", "size", "name", "type", "charset", "disposition", "cid", "language", "location"}
)

// isHeaderProp accepts "header:Name[:asForm][:all]" (RFC 8621 section
// 4.1.3).
func isHeaderProp(p string) bool {
	_, err := parseHeaderProp(p)
	return err == nil
}

type headerProp struct {
	name string
	form string
	all  bool
}

func parseHeaderProp(p string) (headerProp, error) {
	rest, ok := strings.CutPrefix(p, "header:")
	if !ok {
		return headerProp{}, fmt.Errorf("not a header property")
	}
	parts := strings.Split(rest, ":")
	hp := headerProp{name: parts[0], form: "Raw"}
	if hp.name == "" {
		return hp, fmt.Errorf("no header name")
	}
	parts = parts[1:]
	if n := len(parts); n > 0 && parts[n-1] == "all" {
		hp.all, parts = true, parts[:n-1]
	}
	if len(parts) > 1 {
		return hp, fmt.Errorf("too many components")
	}
	if len(parts) == 1 {
		hp.form = strings.TrimPrefix(parts[0], "as")
		switch hp.form {
		case "Raw", "Text", "Addresses", "GroupedAddresses", "MessageIds", "Date", "URLs":
		default:
			return hp, fmt.Errorf("unknown form %q", parts[0])
		}
	}
	return hp, nil
}

// emailGet is Email/get (RFC 8621 section 4.2).
func (c *call) emailGet(raw json.RawMessage) (any, error) {
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
		o, err := c.emailObject(x, e, props, bprops, &a)
		if err != nil {
			return nil, err
		}
		list = append(list, o)
	}
	return map[string]any{"accountId": accountID(c.acct), "state": state, "list": list, "notFound": notFound}, nil
}

// needsRaw reports whether a property needs the message's bytes rather
// than the stored metadata.
func needsRaw(p string) bool {
	switch p {
	case "bodyValues", "textBody", "htmlBody", "attachments", "headers", "bodyStructure":
		return true
	}
	return strings.HasPrefix(p, "header:")
}

// indexProps are the Email properties the index has, without the
// message's metadata.
var indexProps = []string{"id", "blobId", "threadId", "mailboxIds", "keywords", "size", "receivedAt"}

func (c *call) emailObject(x *index, e *email, props, bprops []string, a *getArgs) (map[string]any, error) {
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
			v, ok := messageProp(p, meta, raw, string(e.blob), bprops, a)
			if ok {
				o[p] = v
			}
		}
	}
	return o, nil
}

func utcDate(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// messageProp computes the properties that come from the message itself,
// which Email/get and Email/parse share (RFC 8621 sections 4.1.2-4.1.4).
func messageProp(p string, meta *message.Meta, raw []byte, key string, bprops []string, a *getArgs) (any, bool) {
	env := &meta.Envelope
	switch p {
	case "messageId":
		return nilIfEmpty(message.MessageIDs(env.MessageID)), true
	case "inReplyTo":
		return nilIfEmpty(message.MessageIDs(env.InReplyTo)), true
	case "references":
		if raw == nil {
			return nilIfEmpty(meta.References), true
		}
		return headerValue(raw, meta.Structure, headerProp{name: "References", form: "MessageIds"}), true
	case "sender":
		return addresses(env.Sender), true
	case "from":
		return addresses(env.From), true
	case "to":
		return addresses(env.To), true
	case "cc":
		return addresses(env.Cc), true
	case "bcc":
		return addresses(env.Bcc), true
	case "replyTo":
		return addresses(env.ReplyTo), true
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
		return headerList(raw, meta.Structure), true
	case "bodyStructure":
		return bodyPart(raw, key, meta.Structure, "", bprops, true), true
	case "textBody", "htmlBody", "attachments":
		text, html, att := bodyLists(meta.Structure)
		l := map[string][]partRef{"textBody": text, "htmlBody": html, "attachments": att}[p]
		out := []any{}
		for _, r := range l {
			out = append(out, bodyPart(raw, key, r.part, r.id, bprops, false))
		}
		return out, true
	case "bodyValues":
		text, html, _ := bodyLists(meta.Structure)
		vals := map[string]any{}
		add := func(l []partRef) {
			for _, r := range l {
				if r.part.Type == "text" {
					vals[r.id] = bodyValue(raw, r.part, a.MaxBodyValueBytes)
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
		return headerValue(raw, meta.Structure, hp), true
	}
	return nil, false
}

func nilIfEmpty(l []string) any {
	if len(l) == 0 {
		return nil
	}
	return l
}

// addresses renders an envelope list as EmailAddress objects, groups
// flattened (RFC 8621 section 4.1.2.3).
func addresses(l []message.Address) any {
	if len(l) == 0 {
		return nil
	}
	out := []map[string]any{}
	for _, a := range l {
		if a.Group != message.Mailbox {
			continue
		}
		out = append(out, emailAddress(a))
	}
	return out
}

func emailAddress(a message.Address) map[string]any {
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

// groupedAddresses renders a list as EmailAddressGroup objects (RFC 8621
// section 4.1.2.4).
func groupedAddresses(l []message.Address) []map[string]any {
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
				last["addresses"] = append(last["addresses"].([]map[string]any), emailAddress(a))
			} else {
				cur["addresses"] = append(cur["addresses"].([]map[string]any), emailAddress(a))
			}
		}
	}
	return out
}

func headerList(raw []byte, p *message.Part) []map[string]string {
	out := []map[string]string{}
	for _, f := range message.Fields(raw, p) {
		out = append(out, map[string]string{"name": f.Name, "value": f.Value})
	}
	return out
}

// headerValue is a header:Name:asForm property (RFC 8621 section 4.1.2):
// the last field of the name, or every one with :all.
func headerValue(raw []byte, p *message.Part, hp headerProp) any {
	var vals []any
	for _, f := range message.Fields(raw, p) {
		if strings.EqualFold(f.Name, hp.name) {
			vals = append(vals, headerForm(f.Value, hp.form))
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

func headerForm(v, form string) any {
	switch form {
	case "Text":
		return message.DecodeText(v)
	case "Addresses":
		return addresses(message.AddressList(v))
	case "GroupedAddresses":
		return groupedAddresses(message.AddressList(v))
	case "MessageIds":
		return nilIfEmpty(message.MessageIDs(v))
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
		return nilIfEmpty(urls)
	}
	return v
}

// partRef is a body part and its partId.
type partRef struct {
	id   string
	part *message.Part
}

// partID numbers parts as IMAP sections do ("1.2"); the message's own
// body is "1" when it is not multipart, and every multipart has one too.
func childID(parent string, i int) string {
	if parent == "" {
		return strconv.Itoa(i + 1)
	}
	return parent + "." + strconv.Itoa(i+1)
}

// bodyLists implements the textBody, htmlBody and attachments algorithm
// of RFC 8621 section 4.1.4.
func bodyLists(root *message.Part) (text, html, att []partRef) {
	var walk func(parts []partRef, multiType string)
	walk = func(parts []partRef, multiType string) {
		textLen, htmlLen := len(text), len(html)
		for i, r := range parts {
			p := r.part
			isMulti := p.Type == "multipart"
			if isMulti {
				var sub []partRef
				for j, c := range p.Parts {
					sub = append(sub, partRef{childID(r.id, j), c})
				}
				walk(sub, p.Subtype)
				continue
			}
			isInline := p.Disposition != "attachment" &&
				(p.Type == "text" && (p.Subtype == "plain" || p.Subtype == "html") || p.Type == "image" || p.Type == "audio" || p.Type == "video") &&
				(i == 0 || multiType != "related" && (p.Type == "image" || p.Type == "audio" || p.Type == "video" || p.Type == "text"))
			switch {
			case isInline && multiType == "alternative":
				switch {
				case p.Type == "text" && p.Subtype == "plain":
					text = append(text, r)
				case p.Type == "text" && p.Subtype == "html":
					html = append(html, r)
				default:
					att = append(att, r)
				}
			case isInline:
				text = append(text, r)
				html = append(html, r)
				if p.Type != "text" {
					att = append(att, r)
				}
			default:
				att = append(att, r)
			}
		}
		if multiType == "alternative" {
			if len(text) == textLen && len(html) > htmlLen {
				text = append(text, html[htmlLen:]...)
			}
			if len(html) == htmlLen && len(text) > textLen {
				html = append(html, text[textLen:]...)
			}
		}
	}
	rootID := "1"
	if root.Type == "multipart" {
		rootID = ""
	}
	walk([]partRef{{rootID, root}}, "mixed")
	return text, html, att
}

// bodyPart renders an EmailBodyPart (RFC 8621 section 4.1.4).
func bodyPart(raw []byte, key string, p *message.Part, id string, props []string, tree bool) map[string]any {
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
			o[prop] = headerList(raw, p)
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
					subs = append(subs, bodyPart(raw, key, c, childID(id, i), props, true))
				}
				o[prop] = subs
			}
		default:
			if hp, err := parseHeaderProp(prop); err == nil {
				o[prop] = headerValue(raw, p, hp)
			}
		}
	}
	if tree && p.Type == "multipart" && !slices.Contains(props, "subParts") {
		subs := []any{}
		for i, c := range p.Parts {
			subs = append(subs, bodyPart(raw, key, c, childID(id, i), props, true))
		}
		o["subParts"] = subs
	}
	return o
}

// bodyValue is an EmailBodyValue (RFC 8621 section 4.1.4), cut to max
// bytes on a character boundary when max is not 0.
func bodyValue(raw []byte, p *message.Part, max int) map[string]any {
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

// keywordsValue checks a keywords object.
func keywordsValue(raw json.RawMessage) ([]string, error) {
	var kw map[string]bool
	if err := json.Unmarshal(raw, &kw); err != nil {
		return nil, fmt.Errorf("keywords is an object of true values")
	}
	var flags []string
	for k, v := range kw {
		if !v || !validKeyword(k) {
			return nil, fmt.Errorf("invalid keyword %q", k)
		}
		flags = append(flags, flagOf(k))
	}
	slices.Sort(flags)
	return flags, nil
}

// threadGet is Thread/get (RFC 8621 section 3.1).
func (c *call) threadGet(raw json.RawMessage) (any, error) {
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

// emailChanges is Email/changes (RFC 8621 section 4.3): the log's
// message entries, by EMAILID.
func (c *call) emailChanges(raw json.RawMessage) (any, error) {
	var a changesArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	x, err := c.index()
	if err != nil {
		return nil, err
	}
	return c.changes(a, emailChangeSpec(x), nil)
}

func emailChangeSpec(x *index) changeSpec {
	return changeSpec{
		key:     func(ch store.Change) (int64, bool) { return ch.EmailID, ch.UID != 0 && ch.EmailID != 0 },
		exists:  func(id int64) bool { return x.emails[id] != nil },
		creates: func(ch store.Change) bool { return ch.Kind == store.MessageAdded },
		// A COPY adds a message with an EMAILID that already existed.
		olderPart: func(id int64, added map[[2]int64]bool) bool {
			e := x.emails[id]
			if e == nil {
				return false
			}
			for _, cp := range e.copies {
				if !added[[2]int64{cp.Mailbox, int64(cp.UID)}] {
					return true
				}
			}
			return false
		},
		format: emailID,
	}
}

// threadChanges is Thread/changes (RFC 8621 section 3.2): the threads of
// the emails that changed. The thread of an email destroyed since is no
// longer known, so such a window cannot be calculated.
func (c *call) threadChanges(raw json.RawMessage) (any, error) {
	var a changesArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	x, err := c.index()
	if err != nil {
		return nil, err
	}
	res, err := c.changes(a, emailChangeSpec(x), nil)
	if err != nil {
		return nil, err
	}
	m := res.(map[string]any)
	if len(m["destroyed"].([]string)) > 0 {
		return nil, mErr("cannotCalculateChanges", "emails were destroyed; fetch the threads again")
	}
	threads := func(ids []string) []string {
		out := []string{}
		for _, id := range ids {
			if e := x.emails[parseID('E', id)]; e != nil && !slices.Contains(out, threadID(e.thread)) {
				out = append(out, threadID(e.thread))
			}
		}
		return out
	}
	created, updated := threads(m["created"].([]string)), threads(m["updated"].([]string))
	var onlyNew []string
	for _, t := range created {
		if !slices.Contains(updated, t) && len(x.threads[parseID('T', t)]) == countIn(m["created"].([]string), x, t) {
			onlyNew = append(onlyNew, t)
		} else if !slices.Contains(updated, t) {
			updated = append(updated, t)
		}
	}
	m["created"], m["updated"] = append([]string{}, onlyNew...), updated
	return m, nil
}

// countIn counts the emails of ids in thread t.
func countIn(ids []string, x *index, t string) int {
	n := 0
	for _, id := range ids {
		if e := x.emails[parseID('E', id)]; e != nil && threadID(e.thread) == t {
			n++
		}
	}
	return n
}
