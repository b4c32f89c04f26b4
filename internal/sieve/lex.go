package sieve

import (
	"fmt"
	"strconv"
	"strings"
)

// Pos is a place in a script, for error messages.
type Pos struct {
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("line %d, column %d", p.Line, p.Col) }

// Error is a compile error at a place in the script.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("sieve: %s: %s", e.Pos, e.Msg) }

func errorf(p Pos, format string, args ...any) error {
	return &Error{Pos: p, Msg: fmt.Sprintf(format, args...)}
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tTag
	tNumber
	tString
	tPunct // one of ; , ( ) [ ] { }
)

type token struct {
	kind tokKind
	pos  Pos
	text string // identifier, tag without ':', string value, punctuation
	num  int64
}

// Limits of the lexer against hostile scripts.
const (
	maxScriptSize = 1 << 20
	maxNumber     = 1<<31 - 1
)

// lexer splits a script into tokens (RFC 5228 section 8.1).
type lexer struct {
	src       string
	i         int
	line, col int
}

func (l *lexer) pos() Pos { return Pos{l.line, l.col} }

func (l *lexer) advance(n int) {
	for range n {
		if l.src[l.i] == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
		l.i++
	}
}

// skip passes white space and comments (RFC 5228 section 2.3).
func (l *lexer) skip() error {
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.advance(1)
		case c == '#':
			for l.i < len(l.src) && l.src[l.i] != '\n' {
				l.advance(1)
			}
		case strings.HasPrefix(l.src[l.i:], "/*"):
			p := l.pos()
			end := strings.Index(l.src[l.i+2:], "*/")
			if end < 0 {
				return errorf(p, "unterminated comment")
			}
			l.advance(end + 4)
		default:
			return nil
		}
	}
	return nil
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdentChar(c byte) bool  { return isIdentStart(c) || c >= '0' && c <= '9' }

func (l *lexer) next() (token, error) {
	if err := l.skip(); err != nil {
		return token{}, err
	}
	p := l.pos()
	if l.i >= len(l.src) {
		return token{kind: tEOF, pos: p}, nil
	}
	c := l.src[l.i]
	switch {
	case strings.IndexByte(";,()[]{}", c) >= 0:
		l.advance(1)
		return token{kind: tPunct, pos: p, text: string(c)}, nil
	case c == ':':
		j := l.i + 1
		if j >= len(l.src) || !isIdentStart(l.src[j]) {
			return token{}, errorf(p, "a tag needs a name after ':'")
		}
		for j < len(l.src) && isIdentChar(l.src[j]) {
			j++
		}
		t := token{kind: tTag, pos: p, text: strings.ToLower(l.src[l.i+1 : j])}
		l.advance(j - l.i)
		return t, nil
	case c >= '0' && c <= '9':
		return l.number(p)
	case c == '"':
		return l.quoted(p)
	case isIdentStart(c):
		j := l.i
		for j < len(l.src) && isIdentChar(l.src[j]) {
			j++
		}
		word := l.src[l.i:j]
		if strings.EqualFold(word, "text") && j < len(l.src) && l.src[j] == ':' {
			return l.multiline(p, j+1)
		}
		l.advance(j - l.i)
		return token{kind: tIdent, pos: p, text: strings.ToLower(word)}, nil
	}
	return token{}, errorf(p, "unexpected character %q", c)
}

// number reads a number with an optional quantifier K, M or G (RFC 5228
// section 2.4.1).
func (l *lexer) number(p Pos) (token, error) {
	j := l.i
	for j < len(l.src) && l.src[j] >= '0' && l.src[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(l.src[l.i:j], 10, 64)
	if err != nil || n > maxNumber {
		return token{}, errorf(p, "number %s is too large", l.src[l.i:j])
	}
	if j < len(l.src) {
		var mul int64
		switch l.src[j] {
		case 'k', 'K':
			mul = 1 << 10
		case 'm', 'M':
			mul = 1 << 20
		case 'g', 'G':
			mul = 1 << 30
		}
		if mul != 0 {
			j++
			if n > maxNumber/mul {
				return token{}, errorf(p, "number %s is too large", l.src[l.i:j])
			}
			n *= mul
		}
	}
	if j < len(l.src) && isIdentStart(l.src[j]) {
		return token{}, errorf(p, "bad number %q", l.src[l.i:j+1])
	}
	l.advance(j - l.i)
	return token{kind: tNumber, pos: p, num: n}, nil
}

// quoted reads a quoted string: backslash escapes any character, and
// both are kept only for the escaped one (RFC 5228 section 2.4.2).
func (l *lexer) quoted(p Pos) (token, error) {
	var b strings.Builder
	j := l.i + 1
	for ; j < len(l.src); j++ {
		c := l.src[j]
		if c == '"' {
			t := token{kind: tString, pos: p, text: b.String()}
			l.advance(j + 1 - l.i)
			return t, nil
		}
		if c == '\\' && j+1 < len(l.src) {
			j++
			c = l.src[j]
		}
		b.WriteByte(c)
	}
	return token{}, errorf(p, "unterminated string")
}

// multiline reads "text:" up to a line holding only "." (RFC 5228
// section 2.4.2); a leading "." of a line is unstuffed.
func (l *lexer) multiline(p Pos, j int) (token, error) {
	for j < len(l.src) && (l.src[j] == ' ' || l.src[j] == '\t') {
		j++
	}
	if j < len(l.src) && l.src[j] == '#' {
		for j < len(l.src) && l.src[j] != '\n' {
			j++
		}
	}
	if strings.HasPrefix(l.src[j:], "\r\n") {
		j += 2
	} else if strings.HasPrefix(l.src[j:], "\n") {
		j++
	} else {
		return token{}, errorf(p, "text: must be followed by a line break")
	}
	var b strings.Builder
	for {
		if j >= len(l.src) {
			return token{}, errorf(p, "text: without a line holding only \".\"")
		}
		end := strings.IndexByte(l.src[j:], '\n')
		var line string
		next := len(l.src)
		if end >= 0 {
			line = l.src[j : j+end+1]
			next = j + end + 1
		} else {
			line = l.src[j:]
		}
		bare := strings.TrimRight(line, "\r\n")
		if bare == "." {
			t := token{kind: tString, pos: p, text: b.String()}
			l.advance(next - l.i)
			return t, nil
		}
		if strings.HasPrefix(line, "..") {
			line = line[1:]
		}
		b.WriteString(line)
		j = next
	}
}
