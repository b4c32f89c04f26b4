package imap

import (
	"bytes"
	"mime"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"casella/internal/message"
)

// encoder builds response text. utf8 is true once the client enabled
// IMAP4rev2 or UTF8=ACCEPT: strings may then carry UTF-8 as they are;
// otherwise header values are sent as RFC 2047 encoded words.
type encoder struct {
	b    []byte
	utf8 bool
}

func (e *encoder) raw(s string) *encoder {
	e.b = append(e.b, s...)
	return e
}

func (e *encoder) sp() *encoder { return e.raw(" ") }

func (e *encoder) num(n uint32) *encoder {
	e.b = strconv.AppendUint(e.b, uint64(n), 10)
	return e
}

func (e *encoder) num64(n int64) *encoder {
	e.b = strconv.AppendInt(e.b, n, 10)
	return e
}

// quotable reports whether s can be a quoted string: no CR, LF or NUL, not
// too long to read comfortably, and 8-bit only when UTF-8 was enabled.
func (e *encoder) quotable(s string) bool {
	if len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' || c == 0 || c >= 0x80 && !e.utf8 {
			return false
		}
	}
	return !e.utf8 || utf8.ValidString(s)
}

// str writes s as a quoted string when it can be one and as a literal
// otherwise (RFC 9051 section 4.3).
func (e *encoder) str(s string) *encoder {
	if !e.quotable(s) {
		return e.literal([]byte(s))
	}
	e.b = append(e.b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			e.b = append(e.b, '\\')
		}
		e.b = append(e.b, s[i])
	}
	e.b = append(e.b, '"')
	return e
}

// nstr writes NIL for an empty string.
func (e *encoder) nstr(s string) *encoder {
	if s == "" {
		return e.raw("NIL")
	}
	return e.str(s)
}

// text writes a header value decoded to UTF-8 by the message package: as it
// is for a UTF-8 client, as RFC 2047 encoded words otherwise.
func (e *encoder) text(s string) *encoder {
	if !e.utf8 && !isASCII(s) {
		s = mime.QEncoding.Encode("utf-8", s)
	}
	return e.nstr(s)
}

// astr writes an atom when s is one, a string otherwise.
func (e *encoder) astr(s string) *encoder {
	if s == "" || strings.EqualFold(s, "NIL") {
		return e.str(s)
	}
	for i := 0; i < len(s); i++ {
		if !isAtomChar(s[i]) {
			return e.str(s)
		}
	}
	return e.raw(s)
}

// mailbox writes a mailbox name, in modified UTF-7 for clients that have
// not enabled UTF-8.
func (e *encoder) mailbox(name string) *encoder {
	if !e.utf8 {
		name = encodeUTF7(name)
	}
	return e.astr(name)
}

// literal writes b as a literal. A NUL may travel only in a literal8, and
// only in answer to BINARY (RFC 9051 section 4.3.1, RFC 3516 section 3),
// so each NUL is sent as 0x80 instead. That keeps the length, so
// RFC822.SIZE and the part sizes of BODYSTRUCTURE still describe what
// BODY[] returns (section 7.5.2), as base64 re-encoding would not; a client
// that needs the exact bytes fetches them with BINARY.
func (e *encoder) literal(b []byte) *encoder {
	e.b = append(e.b, '{')
	e.b = strconv.AppendInt(e.b, int64(len(b)), 10)
	e.b = append(e.b, "}\r\n"...)
	start := len(e.b)
	e.b = append(e.b, b...)
	for i := bytes.IndexByte(b, 0); i >= 0; {
		e.b[start+i] = 0x80
		j := bytes.IndexByte(b[i+1:], 0)
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return e
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// flagList writes "(" flags ")".
func (e *encoder) flagList(flags []string) *encoder {
	e.raw("(")
	for i, f := range flags {
		if i > 0 {
			e.sp()
		}
		e.raw(f)
	}
	return e.raw(")")
}

// envelope writes an ENVELOPE (RFC 9051 section 7.5.2).
func (e *encoder) envelope(env *message.Envelope) *encoder {
	if env == nil {
		env = &message.Envelope{}
	}
	e.raw("(").nstr(env.RawDate).sp().text(env.Subject).sp()
	from := env.From
	sender, replyTo := env.Sender, env.ReplyTo
	// The server defaults sender and reply-to to from (section 7.5.2).
	if len(sender) == 0 {
		sender = from
	}
	if len(replyTo) == 0 {
		replyTo = from
	}
	for _, l := range [][]message.Address{from, sender, replyTo, env.To, env.Cc, env.Bcc} {
		e.addresses(l).sp()
	}
	return e.nstr(env.InReplyTo).sp().nstr(env.MessageID).raw(")")
}

func (e *encoder) addresses(l []message.Address) *encoder {
	if len(l) == 0 {
		return e.raw("NIL")
	}
	e.raw("(")
	for _, a := range l {
		// A group is a start marker with the group's name as mailbox
		// name and NIL host, its members, and an end marker of NILs
		// (RFC 3501 section 7.4.2, RFC 9051 section 7.5.2).
		switch a.Group {
		case message.GroupStart:
			e.raw("(NIL NIL ")
			if a.Name == "" {
				e.str("")
			} else {
				e.text(a.Name)
			}
			e.raw(" NIL)")
			continue
		case message.GroupEnd:
			e.raw("(NIL NIL NIL NIL)")
			continue
		}
		// A mailbox with a NIL host or mailbox name would read as a
		// group marker; a part a broken address lacks is named instead,
		// with the placeholders Dovecot uses.
		local, host := a.Local, a.Host
		if local == "" {
			local = "MISSING_MAILBOX"
		}
		if host == "" {
			host = "MISSING_DOMAIN"
		}
		if !e.utf8 && !isASCII(local) {
			// A rev1 client cannot receive an 8-bit local part; the
			// address is unusable to it either way.
			local = mime.QEncoding.Encode("utf-8", local)
		}
		e.raw("(").text(a.Name).sp().nstr(a.Route).sp().str(local).sp().str(host).raw(")")
	}
	return e.raw(")")
}

// bodyStructure writes BODY (ext false) or BODYSTRUCTURE (ext true) of a
// part (RFC 9051 section 7.5.2).
func (e *encoder) bodyStructure(p *message.Part, ext bool) *encoder {
	if p == nil {
		p = &message.Part{Type: "text", Subtype: "plain"}
	}
	if strings.EqualFold(p.Type, "multipart") && len(p.Parts) > 0 {
		e.raw("(")
		for _, c := range p.Parts {
			e.bodyStructure(c, ext)
		}
		e.sp().str(strings.ToUpper(p.Subtype))
		if ext {
			e.sp().params(p.Params).sp().disposition(p).sp().language(p.Language).sp().nstr(p.Location)
		}
		return e.raw(")")
	}
	typ, sub := p.Type, p.Subtype
	if typ == "" || strings.EqualFold(typ, "multipart") {
		// A multipart without parts has nothing to list; describe its
		// bytes as text, as the message package does for bad MIME.
		typ, sub = "text", "plain"
	}
	enc := p.Encoding
	if enc == "" {
		enc = "7bit"
	}
	e.raw("(").str(strings.ToUpper(typ)).sp().str(strings.ToUpper(sub)).sp().params(p.Params).sp().
		nstr(p.ID).sp().text(p.Description).sp().str(strings.ToUpper(enc)).sp().num64(max(p.BodyEnd-p.BodyStart, 0))
	switch {
	case strings.EqualFold(typ, "message") && (strings.EqualFold(sub, "rfc822") || strings.EqualFold(sub, "global")) && p.Message != nil:
		e.sp().envelope(p.Envelope).sp().bodyStructure(p.Message, ext).sp().num64(p.Lines)
	case strings.EqualFold(typ, "text"):
		e.sp().num64(p.Lines)
	}
	if ext {
		e.sp().nstr(p.MD5).sp().disposition(p).sp().language(p.Language).sp().nstr(p.Location)
	}
	return e.raw(")")
}

// params writes a body parameter list, sorted so output is stable.
func (e *encoder) params(m map[string]string) *encoder {
	if len(m) == 0 {
		return e.raw("NIL")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.raw("(")
	for i, k := range keys {
		if i > 0 {
			e.sp()
		}
		e.str(strings.ToUpper(k)).sp().text(m[k])
	}
	return e.raw(")")
}

func (e *encoder) disposition(p *message.Part) *encoder {
	if p.Disposition == "" {
		return e.raw("NIL")
	}
	return e.raw("(").str(strings.ToUpper(p.Disposition)).sp().params(p.DispositionParams).raw(")")
}

func (e *encoder) language(l []string) *encoder {
	if len(l) == 0 {
		return e.raw("NIL")
	}
	e.raw("(")
	for i, s := range l {
		if i > 0 {
			e.sp()
		}
		e.str(s)
	}
	return e.raw(")")
}
