package imap

import (
	"bufio"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"casella/internal/message"
	"casella/internal/store"
)

// catenateData reads the rest of "CATENATE" SP "(" cat-part *(SP cat-part)
// ")" (RFC 4469 section 5) and returns the message it builds. A TEXT part
// is a literal (or a literal8, or UTF8 with UTF8=ACCEPT, RFC 6855 section
// 4); a URL part names a message or a section of one on this server for
// this user (RFC 5092) and is read as it comes, so a bad URL ends the
// command with NO [BADURL] before any further literal is asked for
// (RFC 4469 section 3). The parts together stay within the literal limit.
func (c *conn) catenateData() ([]byte, error) {
	if err := c.p.sp(); err != nil {
		return nil, err
	}
	if err := c.p.expect('(', "( before CATENATE parts"); err != nil {
		return nil, err
	}
	limit := c.p.maxLiteral
	defer func() { c.p.maxLiteral = limit }()
	var data []byte
	for {
		kind, err := c.p.atom()
		if err != nil {
			return nil, err
		}
		if err := c.p.sp(); err != nil {
			return nil, err
		}
		var part []byte
		switch strings.ToUpper(kind) {
		case "TEXT":
			part, err = c.literal8()
		case "UTF8":
			part, err = c.utf8Literal()
		case "URL":
			var u string
			if u, err = c.p.astring(); err == nil {
				part, err = c.urlData(u)
			}
		default:
			return nil, errSyntax("unknown CATENATE part %s, expected TEXT or URL", kind)
		}
		if err != nil {
			return nil, err
		}
		if int64(len(part)) > c.p.maxLiteral {
			return nil, errNo("TOOBIG", "The catenated message is larger than %d bytes", limit)
		}
		c.p.maxLiteral -= int64(len(part))
		data = append(data, part...)
		if ok, err := c.p.take(')'); err != nil || ok {
			return data, err
		}
		if err := c.p.sp(); err != nil {
			return nil, err
		}
	}
}

// urlData returns the bytes an IMAP URL names (RFC 5092 section 9): a
// message, or a section of it, with an optional partial range. Only
// mailboxes of the logged-in user on this server are reachable, and URLAUTH
// (RFC 4467) is not offered.
func (c *conn) urlData(raw string) ([]byte, error) {
	badURL := func(format string, args ...any) error {
		// url-resp-text: any octet but NUL, CR, LF and "]" (RFC 4469
		// section 6).
		text := strings.Map(func(r rune) rune {
			if r == 0 || r == '\r' || r == '\n' || r == ']' {
				return -1
			}
			return r
		}, strings.ToValidUTF8(raw, ""))
		return errNo("BADURL "+text, format, args...)
	}
	ref, err := parseIMAPURL(raw)
	if err != nil {
		return nil, badURL("%v", err)
	}
	if ref.host != "" && !strings.EqualFold(ref.host, c.srv.Hostname) {
		return nil, badURL("The URL names another server")
	}
	if ref.user != "" && !strings.EqualFold(ref.user, c.acct.Address) {
		return nil, badURL("The URL names another user's mailbox")
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	mb, err := c.srv.Store.Mailbox(ctx, c.acct.ID, ref.mailbox)
	if d, derr := decodeUTF7(ref.mailbox); errors.Is(err, store.ErrNotFound) && derr == nil && d != ref.mailbox {
		// RFC 5092 names mailboxes in UTF-8; a client of RFC 2192's
		// time, or one that never enabled UTF-8, may send the modified
		// UTF-7 name it knows.
		ref.mailbox = d
		mb, err = c.srv.Store.Mailbox(ctx, c.acct.ID, d)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, badURL("No mailbox %s", ref.mailbox)
	} else if err != nil {
		return nil, fmt.Errorf("catenate from %q: %w", ref.mailbox, err)
	}
	if ref.uidValidity != 0 && ref.uidValidity != mb.UIDValidity {
		return nil, badURL("UIDVALIDITY of %s is %d now", ref.mailbox, mb.UIDValidity)
	}
	var msg *store.Message
	q := store.Query{Mailbox: mb.ID, UIDs: store.UIDRanges([]uint32{ref.uid}), WithMeta: len(ref.sec.part) > 0 || ref.sec.text != ""}
	err = c.srv.Store.Messages(ctx, c.acct.ID, q, func(m *store.Message) error {
		if m.UID == ref.uid {
			mm := *m
			msg = &mm
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catenate from %q: %w", ref.mailbox, err)
	}
	if msg == nil {
		return nil, badURL("No message with UID %d in %s", ref.uid, ref.mailbox)
	}
	raw8, err := c.blobs.Get(ctx, msg.Blob)
	if err != nil {
		return nil, fmt.Errorf("catenate: reading message uid %d: %w", msg.UID, err)
	}
	data := raw8
	if q.WithMeta {
		if msg.Meta == nil {
			msg.Meta = message.Parse(raw8)
		}
		var ok bool
		if data, ok = sectionBytes(raw8, msg.Meta.Structure, ref.sec); !ok {
			return nil, badURL("The message has no section %s", ref.sec)
		}
	}
	if ref.partial {
		data = span(data, ref.offset, ref.offset+ref.count)
	}
	return data, nil
}

// imapURL is what an IMAP URL names (RFC 5092 section 9, imessagepart).
type imapURL struct {
	user, host    string // of an absolute URL
	mailbox       string
	uidValidity   uint32 // 0: not given
	uid           uint32
	sec           section
	partial       bool
	offset, count int64
}

// parseIMAPURL parses an absolute IMAP URL ("imap://user@host/...") or an
// absolute path ("/INBOX;UIDVALIDITY=1/;UID=2/;SECTION=1.2").
func parseIMAPURL(raw string) (imapURL, error) {
	var u imapURL
	path := raw
	if rest, ok := cutPrefixFold(raw, "imap://"); ok {
		authority, p, found := strings.Cut(rest, "/")
		if !found {
			return u, errors.New("the URL names no message")
		}
		path = "/" + p
		if userinfo, host, ok := strings.Cut(authority, "@"); ok {
			user, _, _ := strings.Cut(userinfo, ";") // ";AUTH=..." is how, not who
			var err error
			if u.user, err = url.PathUnescape(user); err != nil {
				return u, fmt.Errorf("bad user: %v", err)
			}
			authority = host
		}
		u.host = authority
		if h, _, ok := strings.Cut(authority, ":"); ok {
			u.host = h
		}
	}
	if !strings.HasPrefix(path, "/") {
		return u, errors.New("only absolute IMAP URLs are supported")
	}
	segs := strings.Split(path[1:], "/;")
	box := segs[0]
	if i := strings.LastIndexByte(box, ';'); i >= 0 {
		v, ok := cutPrefixFold(box[i+1:], "UIDVALIDITY=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || n == 0 {
			return u, fmt.Errorf("bad mailbox parameter %q", box[i+1:])
		}
		u.uidValidity, box = uint32(n), box[:i]
	}
	name, err := url.PathUnescape(box)
	if err != nil || name == "" {
		return u, errors.New("bad mailbox name")
	}
	if !utf8.ValidString(name) {
		return u, errors.New("the mailbox name is not UTF-8")
	}
	if strings.EqualFold(name, "INBOX") {
		name = "INBOX"
	}
	u.mailbox = name
	for _, seg := range segs[1:] {
		key, val, _ := strings.Cut(seg, "=")
		switch strings.ToUpper(key) {
		case "UID":
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil || n == 0 {
				return u, fmt.Errorf("bad UID %q", val)
			}
			u.uid = uint32(n)
		case "SECTION":
			spec, err := url.PathUnescape(val)
			if err != nil {
				return u, fmt.Errorf("bad section %q", val)
			}
			p := &parser{r: bufio.NewReader(strings.NewReader(spec + "]")), maxLine: maxLine, maxCommand: maxLine}
			if u.sec, err = p.section(false); err != nil {
				return u, fmt.Errorf("bad section %q", spec)
			}
			if end, _ := p.r.Peek(1); len(end) > 0 {
				return u, fmt.Errorf("bad section %q", spec)
			}
		case "PARTIAL":
			off, n, hasCount := strings.Cut(val, ".")
			o, err := strconv.ParseUint(off, 10, 32)
			if err != nil {
				return u, fmt.Errorf("bad partial range %q", val)
			}
			u.partial, u.offset, u.count = true, int64(o), int64(1)<<62
			if hasCount {
				l, err := strconv.ParseUint(n, 10, 32)
				if err != nil || l == 0 {
					return u, fmt.Errorf("bad partial range %q", val)
				}
				u.count = int64(l)
			}
		default:
			// EXPIRE and URLAUTH (RFC 4467) among others.
			return u, fmt.Errorf("unsupported URL part ;%s", key)
		}
	}
	if u.uid == 0 {
		return u, errors.New("the URL names no message (;UID=)")
	}
	return u, nil
}

// cutPrefixFold is strings.CutPrefix ignoring ASCII case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
