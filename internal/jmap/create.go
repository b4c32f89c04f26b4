package jmap

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"time"

	"casella/internal/blob"
)

// emailCreate is the subset of Email properties that Email/set create
// takes (RFC 8621 section 4.6): a message is written from them.
type emailCreate struct {
	MailboxIDs  map[string]bool    `json:"mailboxIds"`
	Keywords    json.RawMessage    `json:"keywords"`
	ReceivedAt  *time.Time         `json:"receivedAt"`
	MessageID   []string           `json:"messageId"`
	InReplyTo   []string           `json:"inReplyTo"`
	References  []string           `json:"references"`
	Sender      []addressIn        `json:"sender"`
	From        []addressIn        `json:"from"`
	To          []addressIn        `json:"to"`
	Cc          []addressIn        `json:"cc"`
	Bcc         []addressIn        `json:"bcc"`
	ReplyTo     []addressIn        `json:"replyTo"`
	Subject     *string            `json:"subject"`
	SentAt      *time.Time         `json:"sentAt"`
	TextBody    []partIn           `json:"textBody"`
	HTMLBody    []partIn           `json:"htmlBody"`
	Attachments []partIn           `json:"attachments"`
	BodyValues  map[string]valueIn `json:"bodyValues"`
}

type addressIn struct {
	Name  *string `json:"name"`
	Email string  `json:"email"`
}

type partIn struct {
	PartID      *string `json:"partId"`
	BlobID      *string `json:"blobId"`
	Type        string  `json:"type"`
	Name        *string `json:"name"`
	Disposition *string `json:"disposition"`
	Cid         *string `json:"cid"`
	Charset     *string `json:"charset"`
}

type valueIn struct {
	Value             string `json:"value"`
	IsEncodingProblem bool   `json:"isEncodingProblem"`
	IsTruncated       bool   `json:"isTruncated"`
}

// createReadOnly are the properties the server sets (RFC 8621 section
// 4.6: id, blobId, threadId, size, hasAttachment, preview).
var createReadOnly = []string{"id", "blobId", "threadId", "size", "hasAttachment", "preview", "headers", "bodyStructure"}

func badProp(prop, format string, args ...any) *setError {
	return &setError{Type: "invalidProperties", Description: fmt.Sprintf(format, args...), Properties: []string{prop}}
}

// createEmail writes a message from the properties, stores it and adds
// it to its mailboxes.
func (c *call) createEmail(raw json.RawMessage) (map[string]any, *setError, error) {
	var p emailCreate
	if serr := decodeProps(raw, &p, createReadOnly...); serr != nil {
		return nil, serr, nil
	}
	x, err := c.index()
	if err != nil {
		return nil, nil, err
	}
	var mbs []int64
	for id, on := range p.MailboxIDs {
		rid, _ := c.resolveID(id)
		mb := parseID('M', rid)
		if !on || x.mbByID[mb] == nil {
			return nil, badProp("mailboxIds", "no mailbox %s", id), nil
		}
		mbs = append(mbs, mb)
	}
	if len(mbs) == 0 {
		return nil, badProp("mailboxIds", "an email is in at least one mailbox"), nil
	}
	slices.Sort(mbs)
	var flags []string
	if len(p.Keywords) > 0 && string(p.Keywords) != "null" {
		if flags, err = keywordsValue(p.Keywords); err != nil {
			return nil, badProp("keywords", "%v", err), nil
		}
	}
	data, serr := c.writeMessage(&p)
	if serr != nil {
		return nil, serr, nil
	}
	if int64(len(data)) > c.s.maxSizeUpload() {
		return nil, setErr("tooLarge", "the message is larger than %d bytes", c.s.maxSizeUpload()), nil
	}
	key, err := c.blobs.Put(c.ctx, data)
	if err != nil {
		return nil, nil, err
	}
	var received time.Time
	if p.ReceivedAt != nil {
		received = *p.ReceivedAt
	}
	return c.addEmail(data, key, mbs, flags, received)
}

// writeMessage renders an RFC 5322 message with MIME: the text and HTML
// bodies as one part or a multipart/alternative, and attachments around
// them in a multipart/mixed. Text is UTF-8, quoted-printable.
func (c *call) writeMessage(p *emailCreate) ([]byte, *setError) {
	var h bytes.Buffer
	addrs := func(name string, l []addressIn) *setError {
		if len(l) == 0 {
			return nil
		}
		var out []string
		for _, a := range l {
			if _, err := mail.ParseAddress(a.Email); err != nil || strings.ContainsAny(a.Email, "\r\n") {
				return badProp(strings.ToLower(name[:1])+strings.ReplaceAll(name[1:], "-", ""), "invalid address %q", a.Email)
			}
			ma := mail.Address{Address: a.Email}
			if a.Name != nil {
				ma.Name = *a.Name
			}
			out = append(out, ma.String())
		}
		fmt.Fprintf(&h, "%s: %s\r\n", name, strings.Join(out, ", "))
		return nil
	}
	for _, f := range []struct {
		name string
		l    []addressIn
	}{{"From", p.From}, {"Sender", p.Sender}, {"Reply-To", p.ReplyTo}, {"To", p.To}, {"Cc", p.Cc}, {"Bcc", p.Bcc}} {
		if serr := addrs(f.name, f.l); serr != nil {
			return nil, serr
		}
	}
	if p.Subject != nil {
		if strings.ContainsAny(*p.Subject, "\r\n") {
			return nil, badProp("subject", "a subject is one line")
		}
		fmt.Fprintf(&h, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", *p.Subject))
	}
	sent := time.Now()
	if p.SentAt != nil {
		sent = *p.SentAt
	}
	fmt.Fprintf(&h, "Date: %s\r\n", sent.Format(time.RFC1123Z))
	ids := func(prop, name string, l []string) *setError {
		if len(l) == 0 {
			return nil
		}
		var out []string
		for _, id := range l {
			if id == "" || strings.ContainsAny(id, "<> \t\r\n") {
				return badProp(prop, "invalid message id %q", id)
			}
			out = append(out, "<"+id+">")
		}
		fmt.Fprintf(&h, "%s: %s\r\n", name, strings.Join(out, " "))
		return nil
	}
	if len(p.MessageID) == 0 {
		p.MessageID = []string{randomID() + "@" + domainOf(c.ss.acct.Address)}
	}
	for _, f := range []struct {
		prop, name string
		l          []string
	}{{"messageId", "Message-ID", p.MessageID[:1]}, {"inReplyTo", "In-Reply-To", p.InReplyTo}, {"references", "References", p.References}} {
		if serr := ids(f.prop, f.name, f.l); serr != nil {
			return nil, serr
		}
	}
	h.WriteString("MIME-Version: 1.0\r\n")

	if len(p.TextBody) > 1 || len(p.HTMLBody) > 1 {
		return nil, badProp("textBody", "at most one textBody and one htmlBody part")
	}
	text := func(parts []partIn, prop, subtype string) (*mimePart, *setError) {
		if len(parts) == 0 {
			return nil, nil
		}
		pt := parts[0]
		if pt.PartID == nil || pt.BlobID != nil {
			return nil, badProp(prop, "a body part names its partId in bodyValues")
		}
		if pt.Type != "" && pt.Type != "text/"+subtype {
			return nil, badProp(prop, "%s is text/%s", prop, subtype)
		}
		v, ok := p.BodyValues[*pt.PartID]
		if !ok {
			return nil, badProp("bodyValues", "no body value %q", *pt.PartID)
		}
		if v.IsEncodingProblem || v.IsTruncated {
			return nil, badProp("bodyValues", "isEncodingProblem and isTruncated must be false")
		}
		var b bytes.Buffer
		w := quotedprintable.NewWriter(&b)
		w.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(v.Value, "\r\n", "\n"), "\n", "\r\n")))
		w.Close()
		return &mimePart{header: "Content-Type: text/" + subtype + "; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n", body: b.Bytes()}, nil
	}
	tp, serr := text(p.TextBody, "textBody", "plain")
	if serr != nil {
		return nil, serr
	}
	hp, serr := text(p.HTMLBody, "htmlBody", "html")
	if serr != nil {
		return nil, serr
	}
	var body *mimePart
	switch {
	case tp != nil && hp != nil:
		body = multipart("alternative", tp, hp)
	case tp != nil:
		body = tp
	case hp != nil:
		body = hp
	default:
		body = &mimePart{header: "Content-Type: text/plain; charset=utf-8\r\n"}
	}
	if len(p.Attachments) > 0 {
		parts := []*mimePart{body}
		for _, a := range p.Attachments {
			ap, serr := c.attachment(a)
			if serr != nil {
				return nil, serr
			}
			parts = append(parts, ap)
		}
		body = multipart("mixed", parts...)
	}
	h.WriteString(body.header)
	h.WriteString("\r\n")
	h.Write(body.body)
	return h.Bytes(), nil
}

// attachment makes a base64 part of a blob the account may read.
func (c *call) attachment(a partIn) (*mimePart, *setError) {
	if a.BlobID == nil {
		return nil, badProp("attachments", "an attachment names its blobId")
	}
	data, err := c.readBlob(*a.BlobID)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, &setError{Type: "blobNotFound", Description: "no blob " + *a.BlobID, Properties: []string{"attachments"}}
	}
	if err != nil {
		return nil, setErr("serverFail", "reading the attachment failed")
	}
	typ := a.Type
	if typ == "" {
		typ = "application/octet-stream"
	}
	mt, params, err := mime.ParseMediaType(typ)
	if err != nil {
		return nil, badProp("attachments", "invalid type %q", typ)
	}
	if a.Name != nil {
		params["name"] = *a.Name
	}
	disp := "attachment"
	if a.Disposition != nil && *a.Disposition == "inline" {
		disp = "inline"
	}
	dparams := map[string]string{}
	if a.Name != nil {
		dparams["filename"] = *a.Name
	}
	hdr := "Content-Type: " + mime.FormatMediaType(mt, params) + "\r\n" +
		"Content-Disposition: " + mime.FormatMediaType(disp, dparams) + "\r\n" +
		"Content-Transfer-Encoding: base64\r\n"
	if a.Cid != nil && !strings.ContainsAny(*a.Cid, "<>\r\n") {
		hdr += "Content-ID: <" + *a.Cid + ">\r\n"
	}
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return &mimePart{header: hdr, body: []byte(b.String())}, nil
}

// mimePart is a rendered MIME entity: its header fields and its body.
type mimePart struct {
	header string
	body   []byte
}

func multipart(subtype string, parts ...*mimePart) *mimePart {
	boundary := "=_" + randomID()
	var b bytes.Buffer
	for _, p := range parts {
		b.WriteString("--" + boundary + "\r\n" + p.header + "\r\n")
		b.Write(p.body)
		if !bytes.HasSuffix(p.body, []byte("\r\n")) {
			b.WriteString("\r\n")
		}
	}
	b.WriteString("--" + boundary + "--\r\n")
	return &mimePart{header: "Content-Type: multipart/" + subtype + "; boundary=\"" + boundary + "\"\r\n", body: b.Bytes()}
}

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func domainOf(address string) string {
	if i := strings.LastIndexByte(address, '@'); i >= 0 {
		return address[i+1:]
	}
	return "localhost"
}
