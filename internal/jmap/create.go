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
	// BodyStructure, when given, is the whole body, instead of
	// textBody, htmlBody and attachments.
	BodyStructure *bodyPartIn `json:"bodyStructure"`
	// headers are the header:* properties.
	headers []headerField
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
var createReadOnly = []string{"id", "blobId", "threadId", "size", "hasAttachment", "preview", "headers"}

func badProp(prop, format string, args ...any) *setError {
	return &setError{Type: "invalidProperties", Description: fmt.Sprintf(format, args...), Properties: []string{prop}}
}

// createEmail writes a message from the properties, stores it and adds
// it to its mailboxes.
func (c *call) createEmail(raw json.RawMessage) (map[string]any, *setError, error) {
	var p emailCreate
	rest, hdrs, err := splitHeaderProps(raw)
	if err != nil {
		return nil, badProp("headers", "%v", err), nil
	}
	if serr := decodeProps(rest, &p, createReadOnly...); serr != nil {
		return nil, serr, nil
	}
	p.headers = hdrs
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
	// A header:* property must not say again what a property says
	// (RFC 8621 section 4.6), and the body's fields are the server's.
	given := map[string]bool{}
	for _, f := range p.headers {
		name := strings.ToLower(f.name)
		if strings.HasPrefix(name, "content-") || name == "mime-version" {
			return nil, badProp("header:"+f.name, "the server writes the MIME fields")
		}
		given[name] = true
	}
	conflict := func(name string, set bool) *setError {
		if set && given[strings.ToLower(name)] {
			return badProp("header:"+name, "given twice, as a property and as header:%s", name)
		}
		return nil
	}
	for _, f := range []struct {
		name, prop string
		l          []addressIn
	}{{"From", "from", p.From}, {"Sender", "sender", p.Sender}, {"Reply-To", "replyTo", p.ReplyTo}, {"To", "to", p.To}, {"Cc", "cc", p.Cc}, {"Bcc", "bcc", p.Bcc}} {
		if serr := conflict(f.name, len(f.l) > 0); serr != nil {
			return nil, serr
		}
		if len(f.l) == 0 {
			continue
		}
		s, err := formatAddresses(f.l)
		if err != nil {
			return nil, badProp(f.prop, "%v", err)
		}
		fmt.Fprintf(&h, "%s: %s\r\n", f.name, s)
	}
	if p.Subject != nil {
		if serr := conflict("Subject", true); serr != nil {
			return nil, serr
		}
		if strings.ContainsAny(*p.Subject, "\r\n") {
			return nil, badProp("subject", "a subject is one line")
		}
		fmt.Fprintf(&h, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", *p.Subject))
	}
	if serr := conflict("Date", p.SentAt != nil); serr != nil {
		return nil, serr
	}
	if !given["date"] {
		sent := time.Now()
		if p.SentAt != nil {
			sent = *p.SentAt
		}
		fmt.Fprintf(&h, "Date: %s\r\n", sent.Format(time.RFC1123Z))
	}
	if len(p.MessageID) == 0 && !given["message-id"] {
		p.MessageID = []string{randomID() + "@" + domainOf(c.ss.acct.Address)}
	}
	for _, f := range []struct {
		prop, name string
		l          []string
	}{{"messageId", "Message-ID", p.MessageID[:min(1, len(p.MessageID))]}, {"inReplyTo", "In-Reply-To", p.InReplyTo}, {"references", "References", p.References}} {
		if serr := conflict(f.name, len(f.l) > 0); serr != nil {
			return nil, serr
		}
		if len(f.l) == 0 {
			continue
		}
		s, err := formatMessageIDs(f.l)
		if err != nil {
			return nil, badProp(f.prop, "%v", err)
		}
		fmt.Fprintf(&h, "%s: %s\r\n", f.name, s)
	}
	for _, f := range p.headers {
		h.WriteString(f.line)
	}
	h.WriteString("MIME-Version: 1.0\r\n")

	if p.BodyStructure != nil {
		if p.TextBody != nil || p.HTMLBody != nil || p.Attachments != nil {
			return nil, badProp("bodyStructure", "bodyStructure is the whole body: no textBody, htmlBody or attachments beside it")
		}
		body, serr := c.bodyPart(p, p.BodyStructure, 0)
		if serr != nil {
			return nil, serr
		}
		h.WriteString(body.header)
		h.WriteString("\r\n")
		h.Write(body.body)
		return h.Bytes(), nil
	}
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
		return p.textPart(*pt.PartID, subtype, prop)
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
			ap, serr := c.attachment(a, "attachments", "attachment")
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

// textPart renders a body value as a UTF-8 quoted-printable text part.
func (p *emailCreate) textPart(partID, subtype, prop string) (*mimePart, *setError) {
	v, ok := p.BodyValues[partID]
	if !ok {
		return nil, badProp("bodyValues", "no body value %q for %s", partID, prop)
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

// attachment makes a base64 part of a blob the account may read, with
// the disposition given or else dflt.
func (c *call) attachment(a partIn, prop, dflt string) (*mimePart, *setError) {
	if a.BlobID == nil {
		return nil, badProp(prop, "a part with content from a blob names its blobId")
	}
	data, err := c.readBlob(*a.BlobID)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, &setError{Type: "blobNotFound", Description: "no blob " + *a.BlobID, Properties: []string{prop}}
	}
	if err != nil {
		return nil, setErr("serverFail", "reading the blob failed")
	}
	typ := a.Type
	if typ == "" {
		typ = "application/octet-stream"
	}
	mt, params, err := mime.ParseMediaType(typ)
	if err != nil {
		return nil, badProp(prop, "invalid type %q", typ)
	}
	if a.Name != nil {
		params["name"] = *a.Name
	}
	hdr := "Content-Type: " + mime.FormatMediaType(mt, params) + "\r\n" +
		contentDisposition(a.Disposition, dflt, a.Name)
	if a.Cid != nil && !strings.ContainsAny(*a.Cid, "<>\r\n") {
		hdr += "Content-ID: <" + *a.Cid + ">\r\n"
	}
	// RFC 2046 section 5.2.1: a message/rfc822 body is 7bit, 8bit or
	// binary, never base64, so a forwarded message goes as it is. The
	// CRLF before the next boundary belongs to the boundary (section
	// 5.1.1): one more keeps the message's own last line break.
	if mt == "message/rfc822" {
		if enc, ok := identityEncoding(data); ok {
			return &mimePart{header: hdr + "Content-Transfer-Encoding: " + enc + "\r\n", body: append(data[:len(data):len(data)], '\r', '\n')}, nil
		}
	}
	hdr += "Content-Transfer-Encoding: base64\r\n"
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
// identityEncoding tells whether data can go unencoded as "7bit" or
// "8bit" (RFC 2045 section 2.7, 2.8): CRLF line breaks only, no NUL,
// lines of at most 998 octets, and a final CRLF.
func identityEncoding(data []byte) (string, bool) {
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		return "", false
	}
	enc := "7bit"
	line := 0
	for i, b := range data {
		switch {
		case b == 0:
			return "", false
		case b == '\n':
			if i == 0 || data[i-1] != '\r' {
				return "", false
			}
			line = 0
			continue
		case b == '\r':
			if i+1 >= len(data) || data[i+1] != '\n' {
				return "", false
			}
			continue
		case b >= 0x80:
			enc = "8bit"
		}
		if line++; line > 998 {
			return "", false
		}
	}
	return enc, true
}

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
