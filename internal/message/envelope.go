package message

import (
	"net/mail"
	"strings"
)

// envelopeOf builds the envelope of a message from its header.
func envelopeOf(h header) Envelope {
	e := Envelope{
		RawDate:   validUTF8(h.get("date")),
		Subject:   decodeText(h.get("subject")),
		From:      addressList(h.get("from")),
		Sender:    addressList(h.get("sender")),
		ReplyTo:   addressList(h.get("reply-to")),
		To:        addressList(h.get("to")),
		Cc:        addressList(h.get("cc")),
		Bcc:       addressList(h.get("bcc")),
		InReplyTo: validUTF8(h.get("in-reply-to")),
		MessageID: validUTF8(h.get("message-id")),
	}
	if e.RawDate != "" {
		if t, err := mail.ParseDate(e.RawDate); err == nil {
			e.Date = t
		}
	}
	return e
}

// maxAddresses bounds the addresses kept per field.
const maxAddresses = 1000

// addressList parses an address list (RFC 5322 section 3.4), flattening
// groups, with display names decoded (RFC 2047) and UTF-8 local parts and
// domains kept (RFC 6532). When the list does not parse, each item is
// parsed on its own, and an item that still fails gives a best-effort
// address, so that a sloppy mailer's From still shows.
func addressList(v string) []Address {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	ap := mail.AddressParser{WordDecoder: newWordDecoder()}
	if list, err := ap.ParseList(v); err == nil {
		var out []Address
		for _, a := range list[:min(len(list), maxAddresses)] {
			out = append(out, makeAddress(a.Name, a.Address))
		}
		return out
	}
	var out []Address
	for _, item := range splitAddresses(v) {
		if len(out) >= maxAddresses {
			break
		}
		if a, err := ap.Parse(item); err == nil {
			out = append(out, makeAddress(a.Name, a.Address))
		} else if a, ok := salvageAddress(item); ok {
			out = append(out, a)
		}
	}
	return out
}

// makeAddress splits addr at its last "@" into local part and domain.
func makeAddress(name, addr string) Address {
	local, host := addr, ""
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		local, host = addr[:i], addr[i+1:]
	}
	return Address{Name: validUTF8(name), Local: validUTF8(local), Host: validUTF8(host)}
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

// splitAddresses splits an address list at the commas outside quoted
// strings, comments and angle brackets.
func splitAddresses(v string) []string {
	var items []string
	quoted, escaped, angle, comment := false, false, false, 0
	start := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
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
			items = append(items, v[start:i])
			start = i + 1
		}
	}
	return append(items, v[start:])
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

// maxReferences bounds the message ids kept for threading.
const maxReferences = 500

// references returns the message ids of References and then In-Reply-To
// (RFC 5256 section 2.2), without angle brackets and without duplicates.
func references(h header) []string {
	var ids []string
	seen := map[string]bool{}
	for _, v := range []string{h.get("references"), h.get("in-reply-to")} {
		for _, id := range msgIDs(v) {
			if !seen[id] && len(ids) < maxReferences {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// msgIDs extracts the message ids of a References or In-Reply-To value:
// the contents of its angle brackets, or, when a mailer left the brackets
// out, its words that contain "@".
func msgIDs(v string) []string {
	var ids []string
	rest := v
	for {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '>')
		if j < 0 {
			break
		}
		if id := strings.Join(strings.Fields(rest[i+1:i+j]), ""); id != "" {
			ids = append(ids, validUTF8(id))
		}
		rest = rest[i+j+1:]
	}
	if ids == nil {
		for _, w := range strings.Fields(v) {
			if strings.Contains(w, "@") {
				ids = append(ids, validUTF8(w))
			}
		}
	}
	return ids
}
