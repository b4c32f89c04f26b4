package sieve

// The syntax tree of RFC 5228 section 8.2, before any command is known.

type argKind int

const (
	aTag argKind = iota
	aNumber
	aStrings // a string or a string list
)

type arg struct {
	kind   argKind
	pos    Pos
	tag    string
	num    int64
	strs   []string
	single bool // a single string, not a list
}

type command struct {
	name     string
	pos      Pos
	args     []arg
	tests    []*command // the test or test list
	block    []*command
	hasBlock bool
}

// Parser limits against hostile scripts.
const (
	maxNesting  = 32
	maxCommands = 10000
	maxList     = 1000
)

type parser struct {
	lx    lexer
	tok   token
	depth int
	count int
}

func parse(src string) ([]*command, error) {
	if len(src) > maxScriptSize {
		return nil, errorf(Pos{1, 1}, "script larger than %d bytes", maxScriptSize)
	}
	p := &parser{lx: lexer{src: src, line: 1, col: 1}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	cmds, err := p.commands()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, errorf(p.tok.pos, "unexpected %s", describe(p.tok))
	}
	return cmds, nil
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of script"
	case tIdent:
		return "identifier " + t.text
	case tTag:
		return "tag :" + t.text
	case tNumber:
		return "number"
	case tString:
		return "string"
	}
	return "\"" + t.text + "\""
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) isPunct(s string) bool { return p.tok.kind == tPunct && p.tok.text == s }

func (p *parser) expect(s string) error {
	if !p.isPunct(s) {
		return errorf(p.tok.pos, "expected %q, found %s", s, describe(p.tok))
	}
	return p.advance()
}

// commands reads commands up to "}" or the end.
func (p *parser) commands() ([]*command, error) {
	var out []*command
	for p.tok.kind == tIdent {
		c, err := p.command()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if p.tok.kind != tEOF && !p.isPunct("}") {
		return nil, errorf(p.tok.pos, "expected a command, found %s", describe(p.tok))
	}
	return out, nil
}

func (p *parser) command() (*command, error) {
	p.count++
	if p.count > maxCommands {
		return nil, errorf(p.tok.pos, "more than %d commands and tests", maxCommands)
	}
	c := &command{name: p.tok.text, pos: p.tok.pos}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.arguments(c); err != nil {
		return nil, err
	}
	switch {
	case p.isPunct(";"):
		return c, p.advance()
	case p.isPunct("{"):
		p.depth++
		if p.depth > maxNesting {
			return nil, errorf(p.tok.pos, "blocks nested deeper than %d", maxNesting)
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		block, err := p.commands()
		if err != nil {
			return nil, err
		}
		if err := p.expect("}"); err != nil {
			return nil, err
		}
		p.depth--
		c.block, c.hasBlock = block, true
		return c, nil
	}
	return nil, errorf(p.tok.pos, "expected \";\" or a block after %s, found %s", c.name, describe(p.tok))
}

// arguments reads arguments, then an optional test or test list (RFC 5228
// section 8.2).
func (p *parser) arguments(c *command) error {
	for {
		switch {
		case p.tok.kind == tTag:
			c.args = append(c.args, arg{kind: aTag, pos: p.tok.pos, tag: p.tok.text})
		case p.tok.kind == tNumber:
			c.args = append(c.args, arg{kind: aNumber, pos: p.tok.pos, num: p.tok.num})
		case p.tok.kind == tString:
			c.args = append(c.args, arg{kind: aStrings, pos: p.tok.pos, strs: []string{p.tok.text}, single: true})
		case p.isPunct("["):
			a, err := p.stringList()
			if err != nil {
				return err
			}
			c.args = append(c.args, a)
			continue
		default:
			return p.testPart(c)
		}
		if err := p.advance(); err != nil {
			return err
		}
	}
}

func (p *parser) stringList() (arg, error) {
	a := arg{kind: aStrings, pos: p.tok.pos}
	if err := p.advance(); err != nil {
		return a, err
	}
	for {
		if p.tok.kind != tString {
			return a, errorf(p.tok.pos, "expected a string in the list, found %s", describe(p.tok))
		}
		if len(a.strs) >= maxList {
			return a, errorf(p.tok.pos, "string list longer than %d", maxList)
		}
		a.strs = append(a.strs, p.tok.text)
		if err := p.advance(); err != nil {
			return a, err
		}
		if p.isPunct("]") {
			return a, p.advance()
		}
		if err := p.expect(","); err != nil {
			return a, err
		}
	}
}

func (p *parser) testPart(c *command) error {
	switch {
	case p.tok.kind == tIdent:
		t, err := p.test()
		if err != nil {
			return err
		}
		c.tests = []*command{t}
	case p.isPunct("("):
		if err := p.advance(); err != nil {
			return err
		}
		for {
			t, err := p.test()
			if err != nil {
				return err
			}
			c.tests = append(c.tests, t)
			if p.isPunct(")") {
				return p.advance()
			}
			if err := p.expect(","); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *parser) test() (*command, error) {
	if p.tok.kind != tIdent {
		return nil, errorf(p.tok.pos, "expected a test, found %s", describe(p.tok))
	}
	p.count++
	p.depth++
	if p.count > maxCommands || p.depth > maxNesting {
		return nil, errorf(p.tok.pos, "tests nested too deep or too many")
	}
	t := &command{name: p.tok.text, pos: p.tok.pos}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.arguments(t); err != nil {
		return nil, err
	}
	p.depth--
	return t, nil
}
