package imap

import (
	"strconv"
	"strings"
)

// fetchMacros expand ALL, FAST and FULL (RFC 9051 section 6.4.5).
var fetchMacros = map[string][]string{
	"ALL":  {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"},
	"FAST": {"FLAGS", "INTERNALDATE", "RFC822.SIZE"},
	"FULL": {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"},
}

// parseFetch reads "SP sequence-set SP (macro / att / (att *(SP att)))"
// and the CHANGEDSINCE modifier, up to the end of the line.
func (c *conn) parseFetch(cmd *command) (*fetchArgs, error) {
	a := &fetchArgs{}
	var err error
	if err = c.p.sp(); err != nil {
		return nil, err
	}
	if a.set, err = c.p.seqSet(); err != nil {
		return nil, err
	}
	if err = c.p.sp(); err != nil {
		return nil, err
	}
	err = c.p.oneOrList(func(alone bool) error {
		att, err := c.p.fetchAtt(alone)
		if err != nil {
			return err
		}
		if m, ok := fetchMacros[att.name]; ok {
			for _, name := range m {
				a.atts = append(a.atts, fetchAtt{name: name})
			}
		} else {
			a.atts = append(a.atts, att)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ok, err := c.p.take(' '); err != nil {
		return nil, err
	} else if ok {
		if err := c.fetchModifiers(cmd, a); err != nil {
			return nil, err
		}
	}
	for _, att := range a.atts {
		if att.name == "MODSEQ" {
			c.condstore = true // an enabling command (RFC 7162 section 3.1)
		}
	}
	return a, c.p.end()
}

// fetchModifiers reads "(" modifier *(SP modifier) ")": CHANGEDSINCE
// (RFC 7162 section 3.1.4.1) and VANISHED (section 3.2.6).
func (c *conn) fetchModifiers(cmd *command, a *fetchArgs) error {
	if err := c.p.expect('(', "fetch modifiers"); err != nil {
		return err
	}
	for {
		name, err := c.p.atom()
		if err != nil {
			return err
		}
		switch strings.ToUpper(name) {
		case "CHANGEDSINCE":
			if err := c.p.sp(); err != nil {
				return err
			}
			if a.changedSince, err = c.p.number64(); err != nil {
				return err
			}
			c.condstore = true // an enabling command (RFC 7162 section 3.1)
		case "VANISHED":
			a.vanished = true
		default:
			return errSyntax("unknown fetch modifier %s", name)
		}
		if ok, err := c.p.take(')'); err != nil {
			return err
		} else if ok {
			break
		}
		if err := c.p.sp(); err != nil {
			return err
		}
	}
	if a.vanished && (!cmd.uid || !c.qresync || a.changedSince == 0) {
		// Section 3.2.6: only in UID FETCH, with CHANGEDSINCE, once
		// QRESYNC is enabled.
		return errBad("", "VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC")
	}
	return nil
}

// fetchAtt reads one FETCH item. Macros are allowed only alone.
func (p *parser) fetchAtt(macroOK bool) (fetchAtt, error) {
	word, err := p.word("fetch item", func(c byte) bool {
		return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.'
	})
	if err != nil {
		return fetchAtt{}, err
	}
	word = strings.ToUpper(word)
	switch word {
	case "ALL", "FAST", "FULL":
		if !macroOK {
			return fetchAtt{}, errSyntax("%s can only be fetched alone", word)
		}
		return fetchAtt{name: word}, nil
	case "FLAGS", "UID", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE", "MODSEQ",
		"RFC822", "RFC822.HEADER", "RFC822.TEXT",
		"EMAILID", "THREADID", // RFC 8474 section 5
		"SAVEDATE": // RFC 8514 section 4.2
		return fetchAtt{name: word}, nil
	case "PREVIEW":
		return fetchAtt{name: word}, p.previewModifiers()
	case "BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE":
	default:
		return fetchAtt{}, errSyntax("unknown fetch item %s", word)
	}
	bracket, err := p.take('[')
	if err != nil {
		return fetchAtt{}, err
	}
	if !bracket {
		if word == "BODY" {
			return fetchAtt{name: "BODY"}, nil
		}
		return fetchAtt{}, errSyntax("%s needs a section in brackets", word)
	}
	att := fetchAtt{peek: strings.HasSuffix(word, ".PEEK")}
	binary := strings.HasPrefix(word, "BINARY")
	switch word {
	case "BODY", "BODY.PEEK":
		att.name = "BODY[]"
	case "BINARY", "BINARY.PEEK":
		att.name = "BINARY[]"
	default:
		att.name = "BINARY.SIZE[]"
	}
	if att.sec, err = p.section(binary); err != nil {
		return fetchAtt{}, err
	}
	if ok, err := p.take('<'); err != nil {
		return fetchAtt{}, err
	} else if ok {
		if att.name == "BINARY.SIZE[]" {
			return fetchAtt{}, errSyntax("BINARY.SIZE takes no partial range")
		}
		off, err := p.number()
		if err != nil {
			return fetchAtt{}, err
		}
		if err := p.expect('.', ". in partial range"); err != nil {
			return fetchAtt{}, err
		}
		n, err := p.nzNumber()
		if err != nil {
			return fetchAtt{}, err
		}
		if err := p.expect('>', "> closing partial range"); err != nil {
			return fetchAtt{}, err
		}
		att.partial, att.offset, att.count = true, int64(off), int64(n)
	}
	return att, nil
}

// previewModifiers reads the optional " (" preview-mod *(SP preview-mod)
// ")" after PREVIEW (RFC 8970 section 6). LAZY lets the server answer NIL
// rather than compute a preview; every preview here was stored at
// delivery, so it changes nothing.
func (p *parser) previewModifiers() error {
	// A space followed by anything but "(" separates the next item.
	if b, err := p.r.Peek(2); err != nil || b[0] != ' ' || b[1] != '(' {
		return nil
	}
	if err := p.sp(); err != nil {
		return err
	}
	if err := p.expect('(', "preview modifiers"); err != nil {
		return err
	}
	for {
		mod, err := p.atom()
		if err != nil {
			return err
		}
		if !strings.EqualFold(mod, "LAZY") {
			return errSyntax("unknown PREVIEW modifier %s", mod)
		}
		if ok, err := p.take(')'); err != nil || ok {
			return err
		}
		if err := p.sp(); err != nil {
			return err
		}
	}
}

// section reads a section specification after "[", through "]". BINARY
// sections are part numbers only (RFC 3516 section 4.1).
func (p *parser) section(binary bool) (section, error) {
	var s section
	spec, err := p.word("section", func(c byte) bool {
		return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.'
	})
	if err != nil {
		if ok, err2 := p.take(']'); err2 != nil || ok {
			return s, err2
		}
		return s, err
	}
	rest := strings.Split(strings.ToUpper(spec), ".")
	for len(rest) > 0 {
		n, err := strconv.Atoi(rest[0])
		if err != nil {
			break
		}
		if n < 1 || len(s.part) >= 100 {
			return s, errSyntax("bad part number in section %s", spec)
		}
		s.part = append(s.part, n)
		rest = rest[1:]
	}
	s.text = strings.Join(rest, ".")
	switch s.text {
	case "":
	case "MIME":
		if len(s.part) == 0 {
			return s, errSyntax("MIME needs a part number")
		}
	case "HEADER", "TEXT", "HEADER.FIELDS", "HEADER.FIELDS.NOT":
	default:
		return s, errSyntax("unknown section %s", spec)
	}
	if binary && s.text != "" {
		return s, errSyntax("BINARY sections are part numbers only")
	}
	if strings.HasPrefix(s.text, "HEADER.FIELDS") {
		if err := p.sp(); err != nil {
			return s, err
		}
		if err := p.expect('(', "list of header field names"); err != nil {
			return s, err
		}
		s.fields = []string{}
		for {
			f, err := p.astring()
			if err != nil {
				return s, err
			}
			s.fields = append(s.fields, strings.ToUpper(f))
			if ok, err := p.take(')'); err != nil {
				return s, err
			} else if ok {
				break
			}
			if err := p.sp(); err != nil {
				return s, err
			}
		}
	}
	return s, p.expect(']', "] closing section")
}
