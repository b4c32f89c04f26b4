package imap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"casella/internal/store"
)

// syntaxError is a command the grammar of RFC 9051 section 9 does not
// accept. It is answered with a tagged BAD; the connection stays open.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return e.msg }

func errSyntax(format string, args ...any) error {
	return &syntaxError{fmt.Sprintf(format, args...)}
}

// literalTooBigError is a literal larger than the server accepts. A
// synchronising literal is refused before the client sends it; a
// non-synchronising one (RFC 7888) is already on its way, so the connection
// is closed rather than read and thrown away.
type literalTooBigError struct {
	size    string // as announced: it may not fit in an int64
	max     int64
	sync    bool
	invalid bool // the size is beyond RFC 9051's number64: a syntax error
}

func (e *literalTooBigError) Error() string {
	if e.invalid {
		return fmt.Sprintf("literal size %s is beyond any size IMAP allows (at most %d bytes accepted)", e.size, e.max)
	}
	return fmt.Sprintf("literal of %s bytes is larger than the %d bytes accepted", e.size, e.max)
}

// errLineTooLong ends the connection: a line without its end cannot be
// parsed, and reading it whole is what the limit prevents. It also stands
// for a command whose lines and literals together pass maxCommand.
var errLineTooLong = errors.New("command line too long")

// literalChunk is the most a literal's buffer grows by before the bytes
// to fill it have arrived.
const literalChunk = 64 << 10

// parser reads one command at a time from a client, in the grammar of
// RFC 9051 section 9. It reads byte by byte from a bufio.Reader and never
// holds more than maxCommand bytes of a command in memory. Memory follows
// the bytes received, never a size the client announced: a literal's buffer
// grows as its bytes arrive.
type parser struct {
	r          *bufio.Reader
	maxLine    int
	maxLiteral int64
	maxCommand int64 // lines and literals of one command together
	lineLen    int
	cmdLen     int64
	// lineDone is true once a command's final CRLF has been read, or the
	// CRLF announcing a literal whose bytes were then refused: the client
	// sends nothing more of the command. The caller clears it before each
	// command.
	lineDone bool
	// cont sends the continuation request for a synchronising literal
	// (RFC 9051 section 4.3). A nil cont accepts only non-synchronising
	// literals.
	cont func() error
}

func (p *parser) peek() (byte, error) {
	b, err := p.r.Peek(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// begin starts a command: its bytes are counted from here.
func (p *parser) begin() {
	p.lineDone = false
	p.lineLen = 0
	p.cmdLen = 0
}

func (p *parser) next() (byte, error) {
	c, err := p.r.ReadByte()
	if err != nil {
		return 0, err
	}
	p.lineLen++
	p.cmdLen++
	if p.lineLen > p.maxLine || p.cmdLen > p.maxCommand {
		return 0, errLineTooLong
	}
	return c, nil
}

// take consumes c if it is the next byte and reports whether it did.
func (p *parser) take(c byte) (bool, error) {
	b, err := p.peek()
	if err != nil {
		return false, err
	}
	if b != c {
		return false, nil
	}
	_, err = p.next()
	return err == nil, err
}

func (p *parser) expect(c byte, what string) error {
	ok, err := p.take(c)
	if err != nil {
		return err
	}
	if !ok {
		return p.unexpected(what)
	}
	return nil
}

func (p *parser) unexpected(what string) error {
	b, err := p.peek()
	if err != nil {
		return err
	}
	switch b {
	case '\r', '\n':
		return errSyntax("expected %s, got end of line", what)
	case ' ':
		return errSyntax("expected %s, got a space", what)
	}
	return errSyntax("expected %s, got %q", what, b)
}

func (p *parser) sp() error { return p.expect(' ', "space") }

// atEnd reports whether the command line ends here.
func (p *parser) atEnd() (bool, error) {
	b, err := p.peek()
	if err != nil {
		return false, err
	}
	return b == '\r' || b == '\n', nil
}

// end consumes the line's CRLF. A bare LF is accepted too, as many
// servers do, for the benefit of people typing into a terminal.
func (p *parser) end() error {
	if ok, err := p.take('\r'); err != nil {
		return err
	} else if ok {
		if err := p.expect('\n', "line feed after carriage return"); err != nil {
			return err
		}
	} else if err := p.expect('\n', "end of line"); err != nil {
		return err
	}
	p.lineLen = 0
	p.lineDone = true
	return nil
}

// discardLine skips the rest of a command after an error. A
// non-synchronising literal at a line's end is skipped with the line it
// belongs to; a synchronising one was never continued, so the client does
// not send it. What is skipped counts against maxCommand: past it,
// discardLine returns errLineTooLong and the caller ends the connection.
func (p *parser) discardLine() error {
	var last []byte
	for {
		c, err := p.r.ReadByte()
		if err != nil {
			return err
		}
		if p.cmdLen++; p.cmdLen > p.maxCommand {
			return errLineTooLong
		}
		if c != '\n' {
			if len(last) < 32 {
				last = append(last, c)
			} else {
				last = append(last[1:], c)
			}
			continue
		}
		p.lineLen = 0
		p.lineDone = true
		s := strings.TrimSuffix(string(last), "\r")
		i := strings.LastIndexByte(s, '{')
		if i < 0 || !strings.HasSuffix(s, "+}") {
			return nil
		}
		n, err := strconv.ParseInt(s[i+1:len(s)-2], 10, 64)
		if err != nil {
			return nil // not a literal's size, so no literal follows
		}
		if n > p.maxCommand-p.cmdLen {
			return errLineTooLong
		}
		if _, err := io.CopyN(io.Discard, p.r, n); err != nil {
			return err
		}
		p.cmdLen += n
		last = last[:0]
	}
}

func isAtomChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}

// word reads 1*char for which ok is true.
func (p *parser) word(what string, ok func(byte) bool) (string, error) {
	var b []byte
	for {
		c, err := p.peek()
		if err != nil {
			return "", err
		}
		if !ok(c) {
			break
		}
		if _, err := p.next(); err != nil {
			return "", err
		}
		b = append(b, c)
	}
	if len(b) == 0 {
		return "", p.unexpected(what)
	}
	return string(b), nil
}

// tag reads a command tag: ASTRING-CHAR except "+".
func (p *parser) tag() (string, error) {
	t, err := p.word("tag", func(c byte) bool { return isAtomChar(c) || c == ']' })
	if err == nil && strings.Contains(t, "+") {
		// tag = 1*<any ASTRING-CHAR except "+"> (RFC 9051 section 9): a
		// reply tagged with a part of it could answer another command.
		return "", errSyntax("a tag may not contain \"+\"")
	}
	return t, err
}

// atom reads an atom (RFC 9051 section 9, "atom").
func (p *parser) atom() (string, error) { return p.word("atom", isAtomChar) }

// astring reads an astring: an atom that may contain "]", a quoted string
// or a literal.
func (p *parser) astring() (string, error) {
	c, err := p.peek()
	if err != nil {
		return "", err
	}
	if c == '"' || c == '{' {
		return p.string()
	}
	return p.word("atom or string", func(c byte) bool { return isAtomChar(c) || c == ']' })
}

// string reads a quoted string or a literal.
func (p *parser) string() (string, error) {
	c, err := p.peek()
	if err != nil {
		return "", err
	}
	switch c {
	case '"':
		return p.quoted()
	case '{':
		b, err := p.literal()
		return string(b), err
	}
	return "", p.unexpected("string")
}

// quoted reads a quoted string. 8-bit bytes are kept: IMAP4rev2 allows
// UTF-8 in quoted strings (RFC 9051 section 4.3).
func (p *parser) quoted() (string, error) {
	if err := p.expect('"', "quoted string"); err != nil {
		return "", err
	}
	var b []byte
	for {
		c, err := p.next()
		if err != nil {
			return "", err
		}
		switch c {
		case '"':
			return string(b), nil
		case '\\':
			c, err = p.next()
			if err != nil {
				return "", err
			}
			if c != '"' && c != '\\' {
				return "", errSyntax("quoted string escapes only \\ and \", not %q", c)
			}
		case '\r', '\n', 0:
			return "", errSyntax("quoted string not closed before end of line")
		}
		b = append(b, c)
	}
}

// literal reads a literal {n} or {n+} (RFC 7888) and its bytes. For a
// synchronising literal the continuation request is sent only once the
// size has been checked, so an oversized literal is never transferred.
func (p *parser) literal() ([]byte, error) {
	if err := p.expect('{', "literal"); err != nil {
		return nil, err
	}
	digits, err := p.word("literal size", func(c byte) bool { return '0' <= c && c <= '9' })
	if err != nil {
		return nil, err
	}
	// RFC 9051 section 9: a literal's size is a number64.
	n, err := strconv.ParseInt(digits, 10, 64)
	invalid := err != nil
	sync := true
	if ok, err := p.take('+'); err != nil {
		return nil, err
	} else if ok {
		sync = false
	}
	if err := p.expect('}', "} closing literal size"); err != nil {
		return nil, err
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	limit := max(min(p.maxLiteral, p.maxCommand-p.cmdLen), 0)
	if invalid || n > limit {
		return nil, &literalTooBigError{size: digits, max: limit, sync: sync, invalid: invalid}
	}
	if sync {
		if p.cont == nil {
			return nil, errSyntax("synchronising literal not allowed here")
		}
		if err := p.cont(); err != nil {
			return nil, err
		}
	}
	b, err := p.readLiteral(n)
	if err != nil {
		return nil, fmt.Errorf("reading literal: %w", err)
	}
	p.cmdLen += n
	p.lineDone = false
	return b, nil
}

// readLiteral reads n bytes, growing the buffer as they arrive (by at most
// literalChunk or double what came so far), so that a client announcing
// a large literal and sending little costs little.
func (p *parser) readLiteral(n int64) ([]byte, error) {
	b := make([]byte, 0, min(n, literalChunk))
	for int64(len(b)) < n {
		if len(b) == cap(b) {
			b = slices.Grow(b, int(min(n-int64(len(b)), max(int64(len(b)), literalChunk))))
		}
		m, err := p.r.Read(b[len(b):min(int64(cap(b)), n)])
		b = b[:len(b)+m]
		if err != nil && int64(len(b)) < n {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return b, nil
}

// number reads a number (RFC 9051 "number", 32 bits).
func (p *parser) number() (uint32, error) {
	n, err := p.number64()
	if err != nil {
		return 0, err
	}
	if n > 1<<32-1 {
		return 0, errSyntax("number %d too large", n)
	}
	return uint32(n), nil
}

// number64 reads a number of up to 63 bits (RFC 9051 "number64").
func (p *parser) number64() (uint64, error) {
	digits, err := p.word("number", func(c byte) bool { return '0' <= c && c <= '9' })
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(digits, 10, 63)
	if err != nil {
		return 0, errSyntax("number %s too large", digits)
	}
	return n, nil
}

// nzNumber reads a non-zero number.
func (p *parser) nzNumber() (uint32, error) {
	n, err := p.number()
	if err == nil && n == 0 {
		err = errSyntax("number must not be zero")
	}
	return n, err
}

// seqRange is an inclusive range of a sequence set; 0 stands for "*".
type seqRange struct{ first, last uint32 }

// bounds returns the range's ends in order, "*" (0) being star: a range
// is the same in either order (RFC 9051 section 9, seq-range).
func (r seqRange) bounds(star uint32) (first, last uint32) {
	first, last = r.first, r.last
	if first == 0 {
		first = star
	}
	if last == 0 {
		last = star
	}
	return min(first, last), max(first, last)
}

// seqSet is a parsed sequence-set (RFC 9051 section 9), or "$": the
// result saved by SEARCH RETURN (SAVE) (RFC 5182 section 2.1).
type seqSet struct {
	ranges []seqRange
	saved  bool // "$"
}

func (p *parser) seqNumber() (uint32, error) {
	if ok, err := p.take('*'); err != nil || ok {
		return 0, err
	}
	return p.nzNumber()
}

// seqSet reads a sequence set such as 1:4,7,9:*, or "$".
func (p *parser) seqSet() (seqSet, error) {
	var set seqSet
	if ok, err := p.take('$'); err != nil || ok {
		set.saved = ok
		return set, err
	}
	for {
		first, err := p.seqNumber()
		if err != nil {
			return seqSet{}, err
		}
		last := first
		if ok, err := p.take(':'); err != nil {
			return seqSet{}, err
		} else if ok {
			if last, err = p.seqNumber(); err != nil {
				return seqSet{}, err
			}
		}
		set.ranges = append(set.ranges, seqRange{first, last})
		if ok, err := p.take(','); err != nil {
			return seqSet{}, err
		} else if !ok {
			return set, nil
		}
	}
}

// mailbox reads a mailbox name. INBOX is case-insensitive
// (RFC 9051 section 5.1); names from clients that have not enabled UTF-8
// are in modified UTF-7 (RFC 3501 section 5.1.3), the others in UTF-8
// (RFC 6855 section 3).
func (p *parser) mailbox(rawUTF8 bool) (string, error) {
	s, err := p.astring()
	if err != nil {
		return "", err
	}
	if rawUTF8 && !utf8.ValidString(s) {
		return "", errSyntax("mailbox name is not valid UTF-8")
	}
	if !rawUTF8 {
		// A name that is not modified UTF-7 is a well-formed astring
		// naming no mailbox that can exist: NO, not BAD.
		if s, err = decodeUTF7(s); err != nil {
			return "", errNo("", "Mailbox name is not valid modified UTF-7 (RFC 3501 section 5.1.3): %v", err)
		}
	}
	if strings.EqualFold(s, "INBOX") {
		return "INBOX", nil
	}
	if len(s) > 5 && strings.EqualFold(s[:6], "INBOX/") {
		s = "INBOX" + s[5:]
	}
	return s, nil
}

// flag reads a flag: a keyword atom or a backslash followed by an atom.
func (p *parser) flag() (string, error) {
	if ok, err := p.take('\\'); err != nil {
		return "", err
	} else if ok {
		a, err := p.atom()
		if err != nil {
			return "", err
		}
		for _, f := range store.SystemFlags {
			if strings.EqualFold(f, `\`+a) {
				return f, nil
			}
		}
		return "", errSyntax("unknown system flag \\%s", a)
	}
	return p.atom()
}

// flagList reads "(" [flag *(SP flag)] ")".
func (p *parser) flagList() ([]string, error) {
	if err := p.expect('(', "flag list"); err != nil {
		return nil, err
	}
	var flags []string
	for {
		if ok, err := p.take(')'); err != nil || ok {
			return flags, err
		}
		if len(flags) > 0 {
			if err := p.sp(); err != nil {
				return nil, err
			}
		}
		f, err := p.flag()
		if err != nil {
			return nil, err
		}
		flags = append(flags, f)
	}
}

// flags reads a flag list, or bare flags separated by spaces as STORE
// allows (RFC 9051 section 6.4.6).
func (p *parser) flags() ([]string, error) {
	if c, err := p.peek(); err != nil {
		return nil, err
	} else if c == '(' {
		return p.flagList()
	}
	var flags []string
	for {
		f, err := p.flag()
		if err != nil {
			return nil, err
		}
		flags = append(flags, f)
		if ok, err := p.take(' '); err != nil || !ok {
			return flags, err
		}
	}
}

// date reads a search date, quoted or not: "1-Feb-2024".
func (p *parser) date() (time.Time, error) {
	quoted, err := p.take('"')
	if err != nil {
		return time.Time{}, err
	}
	s, err := p.word("date", func(c byte) bool { return c == '-' || '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'z' })
	if err != nil {
		return time.Time{}, err
	}
	if quoted {
		if err := p.expect('"', "closing quote of date"); err != nil {
			return time.Time{}, err
		}
	}
	t, err := time.Parse("2-Jan-2006", normalizeMonth(s))
	if err != nil {
		return time.Time{}, errSyntax("date %q is not like 1-Feb-2024", s)
	}
	return t, nil
}

// dateTime reads a quoted date-time: "01-Feb-2024 13:14:15 +0100".
func (p *parser) dateTime() (time.Time, error) {
	s, err := p.quoted()
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse("_2-Jan-2006 15:04:05 -0700", normalizeMonth(s))
	if err != nil {
		return time.Time{}, errSyntax("date-time %q is not like \"01-Feb-2024 13:14:15 +0100\"", s)
	}
	return t, nil
}

// normalizeMonth capitalises a month name as time.Parse wants it; IMAP
// month names are case-insensitive.
func normalizeMonth(s string) string {
	i := strings.IndexByte(s, '-')
	if i < 0 || len(s) < i+4 {
		return s
	}
	return s[:i+1] + strings.ToUpper(s[i+1:i+2]) + strings.ToLower(s[i+2:i+4]) + s[i+4:]
}

// nil reads the atom NIL.
func (p *parser) nil() error {
	a, err := p.atom()
	if err != nil {
		return err
	}
	if !strings.EqualFold(a, "NIL") {
		return errSyntax("expected NIL, got %s", a)
	}
	return nil
}

// nstring reads a string or NIL, returned as "".
func (p *parser) nstring() (string, error) {
	c, err := p.peek()
	if err != nil {
		return "", err
	}
	if c == '"' || c == '{' {
		return p.string()
	}
	return "", p.nil()
}

// base64 reads a SASL response line (RFC 9051 section 6.2.2): base64, "="
// for an empty initial response, or "*" to cancel.
func (p *parser) base64() (string, error) {
	return p.word("base64", func(c byte) bool {
		return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=' || c == '*'
	})
}

// mailboxPattern reads a LIST pattern (RFC 9051 "list-mailbox"): an atom
// that may contain the wildcards % and *, or a string; in modified UTF-7
// unless the client enabled UTF-8.
func (p *parser) mailboxPattern(rawUTF8 bool) (string, error) {
	c, err := p.peek()
	if err != nil {
		return "", err
	}
	var s string
	if c == '"' || c == '{' {
		s, err = p.string()
	} else {
		s, err = p.word("mailbox pattern", func(c byte) bool { return isAtomChar(c) || c == '%' || c == '*' || c == ']' })
	}
	if err != nil {
		return "", err
	}
	if rawUTF8 {
		if !utf8.ValidString(s) {
			return "", errSyntax("mailbox pattern is not valid UTF-8")
		}
		return s, nil
	}
	s, err = decodeUTF7(s)
	if err != nil {
		return "", errNo("", "Mailbox pattern is not valid modified UTF-7 (RFC 3501 section 5.1.3): %v", err)
	}
	return s, nil
}

// oneOrList reads one item, or a parenthesised list of items separated by
// spaces, as FETCH attributes, GETMETADATA entries and one-or-more-mailbox
// take. item reads one; alone tells it whether it stands outside a list.
func (p *parser) oneOrList(item func(alone bool) error) error {
	list, err := p.take('(')
	if err != nil {
		return err
	}
	for {
		if err := item(!list); err != nil {
			return err
		}
		if !list {
			return nil
		}
		if ok, err := p.take(')'); err != nil || ok {
			return err
		}
		if err := p.sp(); err != nil {
			return err
		}
	}
}
