package jmap

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

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
	found := make([]*email, len(ids))
	var present []*email
	for i, id := range ids {
		rid, _ := c.resolveID(id)
		if e := x.emails[parseID('E', rid)]; e != nil {
			found[i] = e
			present = append(present, e)
		}
	}
	ew := newEmailWriter(props, bprops, &a)
	if ew.needMeta {
		if err := c.loadMetaOf(present); err != nil {
			return nil, err
		}
	}
	w := &jsonw{b: make([]byte, 0, 256+300*len(present))}
	w.open('{')
	w.key("accountId")
	w.str(accountID(c.acct))
	w.key("list")
	w.open('[')
	for _, e := range found {
		if e != nil {
			if err := c.writeEmail(w, ew, e); err != nil {
				return nil, err
			}
		}
	}
	w.close(']')
	w.key("notFound")
	w.open('[')
	for i, id := range ids {
		if found[i] == nil {
			w.str(id)
		}
	}
	w.close(']')
	w.key("state")
	w.str(x.state)
	w.close('}')
	return encoded(w.b), nil
}

// writeEmail writes one Email object of Email/get.
func (c *call) writeEmail(w *jsonw, ew *emailWriter, e *email) error {
	var meta *message.Meta
	var raw []byte
	var err error
	if ew.needMeta {
		if meta, err = c.metaOf(e); err != nil {
			return err
		}
	}
	if ew.needRaw {
		if raw, err = c.blobs.Get(c.ctx, e.blob); err != nil {
			return fmt.Errorf("reading email %d: %w", e.id, err)
		}
	}
	w.open('{')
	for i, p := range ew.props {
		switch p {
		case "id":
			w.key(p)
			w.id('E', e.id)
		case "threadId":
			w.key(p)
			w.id('T', e.thread)
		case "mailboxIds":
			w.key(p)
			ew.mailboxIDs(w, e.copies)
		case "keywords":
			w.key(p)
			ew.keywords(w, e.flags())
		case "size":
			w.key(p)
			w.int(e.size)
		case "receivedAt":
			w.key(p)
			w.time(e.received.UTC())
		case "blobId":
			w.key(p)
			w.str(string(e.blob))
		default:
			ew.messageProp(w, i, meta, raw, string(e.blob))
		}
	}
	w.close('}')
	return nil
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

func utcDate(t time.Time) string { return t.UTC().Format(time.RFC3339) }

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
	w := &jsonw{}
	w.open('{')
	w.key("accountId")
	w.str(accountID(c.acct))
	w.key("list")
	w.open('[')
	var notFound []string
	for _, id := range ids {
		l := x.threads[parseID('T', id)]
		if len(l) == 0 {
			notFound = append(notFound, id)
			continue
		}
		w.open('{')
		w.key("emailIds")
		w.open('[')
		for _, e := range l {
			w.id('E', e.id)
		}
		w.close(']')
		w.key("id")
		w.str(id)
		w.close('}')
	}
	w.close(']')
	w.key("notFound")
	w.strs(notFound)
	w.key("state")
	w.str(x.state)
	w.close('}')
	return encoded(w.b), nil
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
	return c.changes(a, emailChangeSpec(x))
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
	res, err := c.changes(a, emailChangeSpec(x))
	if err != nil {
		return nil, err
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
	created, updated := threads(res.Created), threads(res.Updated)
	// A destroyed email's thread is updated, or destroyed with it; the
	// index remembers the threads of recently destroyed emails.
	destroyed := []string{}
	for _, id := range res.Destroyed {
		t, ok := x.gone[parseID('E', id)]
		if !ok {
			return nil, mErr("cannotCalculateChanges", "email %s was destroyed and its thread is no longer known; fetch the threads again", id)
		}
		switch tid := threadID(t); {
		case x.threads[t] == nil && !slices.Contains(destroyed, tid):
			destroyed = append(destroyed, tid)
		case x.threads[t] != nil && !slices.Contains(updated, tid):
			updated = append(updated, tid)
		}
	}
	var onlyNew []string
	for _, t := range created {
		if !slices.Contains(updated, t) && len(x.threads[parseID('T', t)]) == countIn(res.Created, x, t) {
			onlyNew = append(onlyNew, t)
		} else if !slices.Contains(updated, t) {
			updated = append(updated, t)
		}
	}
	res.Created, res.Updated, res.Destroyed = append([]string{}, onlyNew...), updated, destroyed
	return res, nil
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
