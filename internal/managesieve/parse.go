package managesieve

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds of what a client may send outside literals.
const (
	maxAtom   = 64
	maxQuoted = 4096
	maxArgs   = 8
)

// errProtocol is a malformed command: answered NO, the session goes on.
type errProtocol struct{ msg string }

func (e *errProtocol) Error() string { return e.msg }

func protocolf(format string, args ...any) error {
	return &errProtocol{fmt.Sprintf(format, args...)}
}

// errTooLarge is a literal above the limit: the session ends, since its
// bytes would be read as commands otherwise.
var errTooLarge = errors.New("literal too large")

// reader reads commands (RFC 5804 section 4): an atom, then strings
// (quoted or literal) and numbers, up to CRLF.
type reader struct {
	br     *bufio.Reader
	maxLit int64
}

// command reads one command: its name upper-cased and its arguments.
// After a protocol error the rest of the line is skipped.
func (r *reader) command() (string, []string, error) {
	name, err := r.atom()
	if err != nil {
		return "", nil, r.recover(err)
	}
	var args []string
	for {
		c, err := r.peekAfterSpaces()
		if err != nil {
			return "", nil, err
		}
		if c == '\r' || c == '\n' {
			if err := r.eol(); err != nil {
				return "", nil, r.recover(err)
			}
			return strings.ToUpper(name), args, nil
		}
		if len(args) >= maxArgs {
			return "", nil, r.recover(protocolf("too many arguments"))
		}
		s, err := r.value()
		if err != nil {
			return "", nil, r.recover(err)
		}
		args = append(args, s)
	}
}

// recover skips to the end of the line after a protocol error; other
// errors end the session.
func (r *reader) recover(err error) error {
	var pe *errProtocol
	if !errors.As(err, &pe) {
		return err
	}
	for n := 0; ; n++ {
		c, rerr := r.br.ReadByte()
		if rerr != nil {
			return rerr
		}
		if c == '\n' {
			return err
		}
		if n > 1<<16 {
			return errTooLarge
		}
	}
}

func (r *reader) peekAfterSpaces() (byte, error) {
	for {
		b, err := r.br.Peek(1)
		if err != nil {
			return 0, err
		}
		if b[0] != ' ' {
			return b[0], nil
		}
		r.br.ReadByte()
	}
}

func (r *reader) eol() error {
	c, err := r.br.ReadByte()
	if err != nil {
		return err
	}
	if c == '\r' {
		if c, err = r.br.ReadByte(); err != nil {
			return err
		}
	}
	if c != '\n' {
		return protocolf("expected CRLF")
	}
	return nil
}

func (r *reader) atom() (string, error) {
	var b strings.Builder
	for {
		p, err := r.br.Peek(1)
		if err != nil {
			return "", err
		}
		c := p[0]
		if c == ' ' || c == '\r' || c == '\n' {
			if b.Len() == 0 {
				return "", protocolf("expected a command")
			}
			return b.String(), nil
		}
		if c <= ' ' || c >= 0x7f || c == '"' || c == '{' || b.Len() >= maxAtom {
			return "", protocolf("bad command name")
		}
		r.br.ReadByte()
		b.WriteByte(c)
	}
}

// value reads a quoted string, a literal or a number.
func (r *reader) value() (string, error) {
	c, err := r.br.ReadByte()
	if err != nil {
		return "", err
	}
	switch {
	case c == '"':
		return r.quoted()
	case c == '{':
		return r.literal()
	case c >= '0' && c <= '9':
		b := []byte{c}
		for {
			p, err := r.br.Peek(1)
			if err != nil {
				return "", err
			}
			if p[0] < '0' || p[0] > '9' {
				return string(b), nil
			}
			if len(b) > 18 {
				return "", protocolf("number too large")
			}
			r.br.ReadByte()
			b = append(b, p[0])
		}
	}
	return "", protocolf("expected a string")
}

// quoted reads a quoted string; backslash escapes '"' and '\' (RFC 5804
// section 4).
func (r *reader) quoted() (string, error) {
	var b strings.Builder
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			return "", err
		}
		switch c {
		case '"':
			if !utf8.ValidString(b.String()) {
				return "", protocolf("string is not UTF-8")
			}
			return b.String(), nil
		case '\\':
			if c, err = r.br.ReadByte(); err != nil {
				return "", err
			}
			if c != '"' && c != '\\' {
				return "", protocolf("bad escape in quoted string")
			}
		case '\r', '\n', 0:
			return "", protocolf("line break in quoted string")
		}
		if b.Len() >= maxQuoted {
			return "", protocolf("quoted string too long, use a literal")
		}
		b.WriteByte(c)
	}
}

// literal reads "{n+}" or "{n}", CRLF and n octets. The server never
// sends a continuation: clients send "{n+}" (RFC 5804 section 4,
// literal-c2s), and the size is checked before any byte is read.
func (r *reader) literal() (string, error) {
	line, err := r.br.ReadString('}')
	if err != nil {
		return "", err
	}
	digits := strings.TrimSuffix(strings.TrimSuffix(line, "}"), "+")
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 0 || len(digits) > 18 {
		return "", protocolf("bad literal length")
	}
	if n > r.maxLit {
		return "", errTooLarge
	}
	if err := r.eol(); err != nil {
		return "", err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r.br, b); err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", protocolf("literal is not UTF-8")
	}
	return string(b), nil
}

// quote renders s as a quoted string, or a literal when it holds line
// breaks or is long (RFC 5804 section 4).
func quote(s string) string {
	if len(s) > 1000 || strings.ContainsAny(s, "\r\n\x00") {
		return fmt.Sprintf("{%d}\r\n%s", len(s), s)
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
