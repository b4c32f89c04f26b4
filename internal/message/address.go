package message

import "strings"

// This file parses address lists itself rather than with net/mail (which
// emersion/go-message's mail package uses too): net/mail flattens groups
// into their members, so IMAP's ENVELOPE loses the group markers RFC 3501
// section 7.4.2 wants and SORT the group name RFC 5256 section 3 sorts by;
// it rejects the obsolete source route <@route:user@domain> (RFC 5322
// section 4.4) that ENVELOPE carries in its own field; and it fails whole
// lists on comments inside an addr-spec, which RFC 5322 section 3.4.1
// allows. The grammar is RFC 5322 section 3.4 with the obsolete forms of
// section 4.4 and UTF-8 (RFC 6532); an address that does not parse is
// salvaged on its own so that a sloppy mailer's From still shows.

// maxAddresses bounds the addresses, group markers included, kept per field.
const maxAddresses = 1000

// addressList parses an address list (RFC 5322 section 3.4). A group
// becomes a GroupStart marker carrying its name, its members, and a
// GroupEnd marker, as ENVELOPE lists them. Display names are decoded
// (RFC 2047); UTF-8 local parts and domains are kept (RFC 6532).
func addressList(v string) []Address {
	p := &addrParser{s: v}
	var out []Address
	add := func(a Address) {
		if len(out) < maxAddresses {
			out = append(out, a)
		}
	}
	for len(out) < maxAddresses {
		p.skipCFWS()
		if p.eof() {
			break
		}
		if p.take(',') || p.take(';') {
			continue // an empty list element (RFC 5322 section 4.4)
		}
		start := p.i
		name, isGroup, a, ok := p.address(true)
		switch {
		case !ok:
			p.i = p.nextSeparator(start)
			if a, ok := salvageAddress(p.s[start:p.i]); ok {
				add(a)
			}
		case isGroup:
			add(Address{Name: name, Group: GroupStart})
			p.groupMembers(add)
			add(Address{Group: GroupEnd})
		default:
			add(a)
		}
	}
	return out
}

// groupMembers reads the members of a group after its ":", up to and
// including the ";" that ends it, or the end of the value.
func (p *addrParser) groupMembers(add func(Address)) {
	for {
		p.skipCFWS()
		switch {
		case p.eof() || p.take(';'):
			return
		case p.take(','):
			continue
		}
		start := p.i
		_, isGroup, a, ok := p.address(false)
		if !ok || isGroup {
			// Groups do not nest (RFC 5322 section 3.4).
			p.i = p.nextSeparator(start)
			a, ok = salvageAddress(p.s[start:p.i])
		}
		if ok {
			add(a)
		}
	}
}

// addrParser reads an address list from s, at offset i.
type addrParser struct {
	s       string
	i       int
	comment string // the last comment skipCFWS skipped
}

func (p *addrParser) eof() bool { return p.i >= len(p.s) }

func (p *addrParser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.i]
}

func (p *addrParser) take(c byte) bool {
	if p.peek() == c && !p.eof() {
		p.i++
		return true
	}
	return false
}

// skipCFWS skips folding white space and comments, which may nest and hold
// quoted pairs (RFC 5322 section 3.2.2). An unclosed comment runs to the
// end.
func (p *addrParser) skipCFWS() {
	for !p.eof() {
		switch c := p.s[p.i]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.i++
		case c == '(':
			start, depth := p.i+1, 0
			for ; !p.eof(); p.i++ {
				switch p.s[p.i] {
				case '\\':
					p.i++
				case '(':
					depth++
				case ')':
					depth--
				}
				if depth == 0 {
					break
				}
			}
			p.comment = p.s[start:min(p.i, len(p.s))]
			p.i = min(p.i+1, len(p.s))
		default:
			return
		}
	}
}

// isAtext reports whether c may appear in an atom (RFC 5322 section 3.2.3);
// bytes of UTF-8 sequences may (RFC 6532 section 3.2).
func isAtext(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c >= 0x80 ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// word reads an atom or a quoted string, after CFWS, and returns its text
// and whether it was quoted.
func (p *addrParser) word() (text string, quoted, ok bool) {
	p.skipCFWS()
	if p.take('"') {
		var b strings.Builder
		for !p.eof() {
			c := p.s[p.i]
			p.i++
			switch {
			case c == '"':
				return b.String(), true, true
			case c == '\\' && !p.eof():
				b.WriteByte(p.s[p.i])
				p.i++
			case c == '\r' || c == '\n':
				// Folding inside a quoted string is not part of it.
			default:
				b.WriteByte(c)
			}
		}
		return "", true, false // unterminated
	}
	start := p.i
	for !p.eof() && isAtext(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i], false, p.i > start
}

// token is a word, or a "." between words (obs-phrase, obs-local-part).
type token struct {
	text        string
	quoted, dot bool
}

// words reads the words and dots before a "<", ":" or "@".
func (p *addrParser) words() []token {
	var toks []token
	for {
		p.skipCFWS()
		if p.take('.') {
			toks = append(toks, token{dot: true})
			continue
		}
		save := p.i
		text, quoted, ok := p.word()
		if !ok {
			p.i = save
			return toks
		}
		toks = append(toks, token{text: text, quoted: quoted})
	}
}

// phrase joins words into a display name, decoding encoded words
// (RFC 2047 section 6.2). A dot sticks to the word before it.
func phrase(toks []token) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 && !t.dot {
			b.WriteByte(' ')
		}
		if t.dot {
			b.WriteByte('.')
		} else {
			b.WriteString(t.text)
		}
	}
	return decodeText(strings.TrimSpace(b.String()))
}

// localPart joins the words and dots of a local part, without the CFWS
// around them (RFC 5322 section 4.4, obs-local-part).
func localPart(toks []token) string {
	var b strings.Builder
	for _, t := range toks {
		if t.dot {
			b.WriteByte('.')
		} else {
			b.WriteString(t.text)
		}
	}
	return b.String()
}

// address reads one address. A group is only allowed at the top level;
// for one it returns the group's name, and the members follow.
func (p *addrParser) address(top bool) (groupName string, isGroup bool, a Address, ok bool) {
	p.comment = ""
	toks := p.words()
	p.skipCFWS()
	switch {
	case p.take('<'):
		a, ok = p.angleAddr()
		if ok {
			a.Name = phrase(toks)
		}
	case p.peek() == ':' && top && len(toks) > 0:
		p.i++
		return phrase(toks), true, Address{}, true
	case p.take('@') && len(toks) > 0:
		host, hostOK := p.domain()
		a, ok = Address{Local: validUTF8(localPart(toks)), Host: validUTF8(host)}, hostOK
		if ok {
			// An old form puts the name in a comment after the
			// address: user@example.org (Name).
			p.comment = ""
			p.skipCFWS()
			if p.comment != "" {
				a.Name = decodeText(unescapeComment(p.comment))
			}
		}
	}
	if !ok {
		return "", false, Address{}, false
	}
	p.skipCFWS()
	switch c := p.peek(); {
	case p.eof(), c == ',', c == ';':
		return "", false, a, true
	}
	return "", false, Address{}, false
}

// angleAddr reads what follows "<": an optional source route, an
// addr-spec and ">" (RFC 5322 sections 3.4 and 4.4).
func (p *addrParser) angleAddr() (Address, bool) {
	var a Address
	p.skipCFWS()
	if p.peek() == '@' {
		// obs-route: "@" domain *("," [CFWS] ["@" domain]) ":"
		var route []string
		for {
			p.skipCFWS()
			if p.take('@') {
				d, ok := p.domain()
				if !ok {
					return a, false
				}
				route = append(route, "@"+d)
			}
			p.skipCFWS()
			if p.take(':') {
				break
			}
			if !p.take(',') {
				return a, false
			}
		}
		a.Route = validUTF8(strings.Join(route, ","))
	}
	toks := p.words()
	if len(toks) == 0 || !p.take('@') {
		return a, false
	}
	host, ok := p.domain()
	p.skipCFWS()
	if !ok || !p.take('>') {
		return a, false
	}
	a.Local, a.Host = validUTF8(localPart(toks)), validUTF8(host)
	return a, true
}

// domain reads a dot-atom, an obsolete domain of atoms with CFWS between
// them, or a domain literal, which keeps its brackets.
func (p *addrParser) domain() (string, bool) {
	p.skipCFWS()
	if p.peek() == '[' {
		end := strings.IndexByte(p.s[p.i:], ']')
		if end < 0 {
			return "", false
		}
		d := p.s[p.i : p.i+end+1]
		p.i += end + 1
		return d, true
	}
	var b strings.Builder
	for {
		p.skipCFWS()
		start := p.i
		for !p.eof() && isAtext(p.s[p.i]) {
			p.i++
		}
		if p.i == start {
			return "", false
		}
		b.WriteString(p.s[start:p.i])
		save := p.i
		p.skipCFWS()
		if !p.take('.') {
			p.i = save
			return b.String(), true
		}
		b.WriteByte('.')
	}
}

// nextSeparator returns the offset of the "," or ";" that ends the item
// starting at start, outside quoted strings, comments and angle brackets,
// or the end of s. A ";" ends a group, and some mailers separate addresses
// with it.
func (p *addrParser) nextSeparator(start int) int {
	s := p.s
	quoted, angle, comment := false, false, 0
	for i := start; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			i++
		case quoted:
			quoted = c != '"'
		case c == '"':
			quoted = true
		case c == '(':
			comment++
		case c == ')' && comment > 0:
			comment--
		case comment > 0:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case (c == ',' || c == ';') && !angle:
			return i
		}
	}
	return len(s)
}

// unescapeComment removes the quoted pairs of a comment's text.
func unescapeComment(s string) string {
	if !strings.Contains(s, `\`) {
		return strings.TrimSpace(s)
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return strings.TrimSpace(b.String())
}

// salvageAddress makes what it can of an item that is not an RFC 5322
// address: the text in angle brackets (or the whole item) is the address,
// the text before it the display name. A group's display name is dropped.
func salvageAddress(item string) (Address, bool) {
	item = strings.TrimSpace(item)
	if i := indexUnquoted(item, ':'); i >= 0 && i < indexUnquoted(item+"<", '<') {
		item = strings.TrimSpace(item[i+1:])
	}
	item = strings.TrimSpace(strings.TrimSuffix(item, ";"))
	name, addr := "", item
	if i := indexUnquoted(item, '<'); i >= 0 {
		name = strings.TrimSpace(item[:i])
		addr, _, _ = strings.Cut(item[i+1:], ">")
		addr = strings.TrimSpace(addr)
	}
	if addr == "" && name == "" {
		return Address{}, false
	}
	return makeAddress(decodeText(unquote(name)), addr), true
}

// makeAddress splits addr at its last "@" into local part and domain.
func makeAddress(name, addr string) Address {
	local, host := addr, ""
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		local, host = addr[:i], addr[i+1:]
	}
	return Address{Name: validUTF8(name), Local: validUTF8(local), Host: validUTF8(host)}
}

// indexUnquoted returns the index of the first c outside quoted strings,
// or -1.
func indexUnquoted(s string, c byte) int {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			quoted = !quoted
		case s[i] == c && !quoted:
			return i
		}
	}
	return -1
}
