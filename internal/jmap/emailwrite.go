package jmap

import (
	"slices"
	"strings"
	"unicode/utf8"

	"casella/internal/message"
	"casella/internal/store"
)

// emailWriter writes the Email objects of one Email/get or Email/parse
// (RFC 8621 sections 4.1, 4.2 and 4.9) with jsonw: the properties asked,
// and only those (RFC 8620 section 5.1), null when they have no value.
type emailWriter struct {
	// props and bprops are the Email and EmailBodyPart properties asked,
	// sorted as encoding/json sorts a map's keys and each once; hdr and
	// bhdr hold the parsed header:Name:asForm property at the same index.
	props, bprops []string
	hdr, bhdr     []headerProp
	args          *getArgs
	// needMeta says a property needs the stored metadata, needRaw the
	// message's bytes.
	needMeta, needRaw bool
	scratch           []string // reused for each email's sorted keys
}

func newEmailWriter(props, bprops []string, a *getArgs) *emailWriter {
	ew := &emailWriter{args: a}
	ew.props, ew.hdr = sortedProps(props)
	// An EmailBodyPart's subParts are there exactly when the part is a
	// multipart in bodyStructure, asked or not (RFC 8621 section 4.1.4).
	ew.bprops, ew.bhdr = sortedProps(slices.DeleteFunc(slices.Clone(bprops), func(p string) bool { return p == "subParts" }))
	ew.needMeta = slices.ContainsFunc(ew.props, func(p string) bool { return !slices.Contains(indexProps, p) })
	ew.needRaw = slices.ContainsFunc(ew.props, needsRaw)
	return ew
}

// sortedProps sorts and dedups properties and parses the header ones.
func sortedProps(l []string) ([]string, []headerProp) {
	l = slices.Compact(slices.Sorted(slices.Values(l)))
	hdr := make([]headerProp, len(l))
	for i, p := range l {
		if hp, err := parseHeaderProp(p); err == nil {
			hdr[i] = hp
		}
	}
	return l, hdr
}

// mailboxIDs writes an email's mailboxIds: its mailboxes' ids as keys.
func (ew *emailWriter) mailboxIDs(w *jsonw, copies []store.Message) {
	w.open('{')
	if len(copies) == 1 {
		w.key(mailboxID(copies[0].Mailbox))
		w.bool(true)
	} else {
		ids := ew.scratch[:0]
		for _, cp := range copies {
			ids = append(ids, mailboxID(cp.Mailbox))
		}
		slices.Sort(ids)
		for _, id := range slices.Compact(ids) {
			w.key(id)
			w.bool(true)
		}
		ew.scratch = ids
	}
	w.close('}')
}

// keywords writes an email's keywords object (RFC 8621 section 4.1.1).
func (ew *emailWriter) keywords(w *jsonw, flags []string) {
	ew.scratch = appendKeywords(ew.scratch[:0], flags)
	w.open('{')
	for _, k := range ew.scratch {
		w.key(k)
		w.bool(true)
	}
	w.close('}')
}

// messageProp writes the property props[i], which comes from the message
// itself (RFC 8621 sections 4.1.2-4.1.4), as a key and its value. A
// header property with no message bytes is left out.
func (ew *emailWriter) messageProp(w *jsonw, i int, meta *message.Meta, raw []byte, key string) {
	p := ew.props[i]
	if hp := ew.hdr[i]; hp.name != "" {
		if raw != nil {
			w.key(p)
			headerValue(w, raw, meta.Structure, hp)
		}
		return
	}
	env := &meta.Envelope
	w.key(p)
	switch p {
	case "messageId":
		w.strsOrNull(message.MessageIDs(env.MessageID))
	case "inReplyTo":
		w.strsOrNull(message.MessageIDs(env.InReplyTo))
	case "references":
		if raw == nil {
			w.strsOrNull(meta.References)
		} else {
			headerValue(w, raw, meta.Structure, headerProp{name: "References", form: "MessageIds"})
		}
	case "sender":
		addresses(w, env.Sender)
	case "from":
		addresses(w, env.From)
	case "to":
		addresses(w, env.To)
	case "cc":
		addresses(w, env.Cc)
	case "bcc":
		addresses(w, env.Bcc)
	case "replyTo":
		addresses(w, env.ReplyTo)
	case "subject":
		if env.Subject == "" && env.RawDate == "" && env.MessageID == "" {
			w.null()
		} else {
			w.str(env.Subject)
		}
	case "sentAt":
		if env.Date.IsZero() {
			w.null()
		} else {
			w.time(env.Date)
		}
	case "hasAttachment":
		w.bool(meta.HasAttachment)
	case "preview":
		w.str(meta.Preview)
	case "headers":
		headerList(w, raw, meta.Structure)
	case "bodyStructure":
		ew.bodyPart(w, raw, key, meta.Structure, "", true)
	case "textBody", "htmlBody", "attachments":
		text, html, att := bodyLists(meta.Structure)
		l := text
		switch p {
		case "htmlBody":
			l = html
		case "attachments":
			l = att
		}
		w.open('[')
		for _, r := range l {
			ew.bodyPart(w, raw, key, r.part, r.id, false)
		}
		w.close(']')
	case "bodyValues":
		ew.bodyValues(w, raw, meta.Structure)
	default:
		// Not reached: properties() lets only known properties through.
		w.null()
	}
}

// bodyValues writes the bodyValues object: the text parts of textBody
// and htmlBody that the fetch arguments ask, by partId (RFC 8621
// section 4.2).
func (ew *emailWriter) bodyValues(w *jsonw, raw []byte, root *message.Part) {
	a := ew.args
	text, html, _ := bodyLists(root)
	var l []partRef
	if a.FetchTextBodyValues || a.FetchAllBodyValues {
		l = append(l, text...)
	}
	if a.FetchHTMLBodyValues || a.FetchAllBodyValues {
		l = append(l, html...)
	}
	l = slices.DeleteFunc(l, func(r partRef) bool { return r.part.Type != "text" })
	slices.SortFunc(l, func(a, b partRef) int { return strings.Compare(a.id, b.id) })
	l = slices.CompactFunc(l, func(a, b partRef) bool { return a.id == b.id })
	w.open('{')
	for _, r := range l {
		w.key(r.id)
		bodyValue(w, raw, r.part, a.MaxBodyValueBytes)
	}
	w.close('}')
}

// addresses writes an envelope list as EmailAddress objects, groups
// flattened, or null when it is empty (RFC 8621 section 4.1.2.3).
func addresses(w *jsonw, l []message.Address) {
	if len(l) == 0 {
		w.null()
		return
	}
	w.open('[')
	for _, a := range l {
		if a.Group == message.Mailbox {
			emailAddress(w, a)
		}
	}
	w.close(']')
}

func emailAddress(w *jsonw, a message.Address) {
	w.open('{')
	w.key("email")
	w.sep()
	w.b = append(w.b, '"')
	w.b = appendJSONEscaped(w.b, a.Local)
	if a.Host != "" {
		// "@" ends any UTF-8 sequence, so escaping the parts is escaping
		// the whole.
		w.b = append(w.b, '@')
		w.b = appendJSONEscaped(w.b, a.Host)
	}
	w.b = append(w.b, '"')
	w.comma = true
	w.key("name")
	w.strOrNull(a.Name)
	w.close('}')
}

// groupedAddresses writes a list as EmailAddressGroup objects (RFC 8621
// section 4.1.2.4): a named group for each group of the list, and an
// unnamed one for each run of addresses outside a group.
func groupedAddresses(w *jsonw, l []message.Address) {
	type group struct {
		name  string
		named bool
		addrs []message.Address
	}
	var groups []group
	in := false
	for _, a := range l {
		switch a.Group {
		case message.GroupStart:
			groups = append(groups, group{name: a.Name, named: true})
			in = true
		case message.GroupEnd:
			in = false
		default:
			if !in && (len(groups) == 0 || groups[len(groups)-1].named) {
				groups = append(groups, group{})
			}
			last := &groups[len(groups)-1]
			last.addrs = append(last.addrs, a)
		}
	}
	w.open('[')
	for _, g := range groups {
		w.open('{')
		w.key("addresses")
		w.open('[')
		for _, a := range g.addrs {
			emailAddress(w, a)
		}
		w.close(']')
		w.key("name")
		if g.named {
			w.str(g.name)
		} else {
			w.null()
		}
		w.close('}')
	}
	w.close(']')
}

// headerList writes a part's header fields, raw, in order (RFC 8621
// section 4.1.3).
func headerList(w *jsonw, raw []byte, p *message.Part) {
	w.open('[')
	for _, f := range message.Fields(raw, p) {
		w.open('{')
		w.key("name")
		w.str(f.Name)
		w.key("value")
		w.str(f.Value)
		w.close('}')
	}
	w.close(']')
}

// headerValue writes a header:Name:asForm property (RFC 8621 section
// 4.1.2): the last field of the name or null, or with :all every one.
func headerValue(w *jsonw, raw []byte, p *message.Part, hp headerProp) {
	var vals []string
	for _, f := range message.Fields(raw, p) {
		if strings.EqualFold(f.Name, hp.name) {
			vals = append(vals, f.Value)
		}
	}
	switch {
	case hp.all:
		w.open('[')
		for _, v := range vals {
			headerForm(w, v, hp.form)
		}
		w.close(']')
	case len(vals) == 0:
		w.null()
	default:
		headerForm(w, vals[len(vals)-1], hp.form)
	}
}

// headerForm writes a field's value parsed in a form (RFC 8621 section
// 4.1.2.1-4.1.2.7); null when it does not parse as that form.
func headerForm(w *jsonw, v, form string) {
	switch form {
	case "Text":
		w.str(message.DecodeText(v))
	case "Addresses":
		addresses(w, message.AddressList(v))
	case "GroupedAddresses":
		groupedAddresses(w, message.AddressList(v))
	case "MessageIds":
		w.strsOrNull(message.MessageIDs(v))
	case "Date":
		t, err := message.ParseDate(v)
		if err != nil {
			w.null()
		} else {
			w.time(t)
		}
	case "URLs":
		var urls []string
		for _, s := range strings.Split(message.Unfold(v), ",") {
			s = strings.TrimSpace(s)
			if strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
				urls = append(urls, s[1:len(s)-1])
			}
		}
		w.strsOrNull(urls)
	default:
		w.str(v)
	}
}

// bodyPart writes an EmailBodyPart (RFC 8621 section 4.1.4); in
// bodyStructure (tree) a multipart has its subParts.
func (ew *emailWriter) bodyPart(w *jsonw, raw []byte, key string, p *message.Part, id string, tree bool) {
	multi := p.Type == "multipart"
	subParts := tree && multi
	w.open('{')
	for i, prop := range ew.bprops {
		if subParts && prop > "subParts" {
			ew.subParts(w, raw, key, p, id)
			subParts = false
		}
		w.key(prop)
		if hp := ew.bhdr[i]; hp.name != "" {
			headerValue(w, raw, p, hp)
			continue
		}
		switch prop {
		case "partId":
			if multi {
				w.null()
			} else {
				w.str(id)
			}
		case "blobId":
			if !multi && raw != nil {
				w.str(partBlobID(key, id))
			} else {
				w.null()
			}
		case "size":
			if b, err := message.DecodeBody(raw, p); err == nil && raw != nil {
				w.int(int64(len(b)))
			} else {
				w.int(p.BodyEnd - p.BodyStart)
			}
		case "headers":
			headerList(w, raw, p)
		case "name":
			if n := p.DispositionParams["filename"]; n != "" {
				w.str(n)
			} else {
				w.strOrNull(p.Params["name"])
			}
		case "type":
			w.str(p.Type + "/" + p.Subtype)
		case "charset":
			if cs := p.Params["charset"]; cs != "" {
				w.str(cs)
			} else if p.Type == "text" {
				w.str("us-ascii")
			} else {
				w.null()
			}
		case "disposition":
			w.strOrNull(p.Disposition)
		case "cid":
			if p.ID != "" {
				w.str(strings.Trim(p.ID, "<> "))
			} else {
				w.null()
			}
		case "language":
			w.strsOrNull(p.Language)
		case "location":
			w.strOrNull(p.Location)
		default:
			// Not reached: properties() lets only known properties through.
			w.null()
		}
	}
	if subParts {
		ew.subParts(w, raw, key, p, id)
	}
	w.close('}')
}

func (ew *emailWriter) subParts(w *jsonw, raw []byte, key string, p *message.Part, id string) {
	w.key("subParts")
	w.open('[')
	for i, c := range p.Parts {
		ew.bodyPart(w, raw, key, c, childID(id, i), true)
	}
	w.close(']')
}

// bodyValue writes an EmailBodyValue (RFC 8621 section 4.1.4), cut to
// max bytes on a character boundary when max is not 0.
func bodyValue(w *jsonw, raw []byte, p *message.Part, max int) {
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
	w.open('{')
	w.key("isEncodingProblem")
	w.bool(problem)
	w.key("isTruncated")
	w.bool(truncated)
	w.key("value")
	w.str(text)
	w.close('}')
}
