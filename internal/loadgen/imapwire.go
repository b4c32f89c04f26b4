package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// wire is a plain IMAP connection for the stateful mix. Unlike a client
// library it hands every response to its caller as it arrives, so the
// session can check each one against its model of the mailbox, and it
// trusts nothing: what it cannot parse is an error.
type wire struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	tag  int
	caps map[string]bool
}

// maxLiteral bounds a literal the server may send.
const maxLiteral = 64 << 20

// resp is one response (RFC 9051 section 7). For a status response (a
// tagged one, or untagged OK, NO, BAD, BYE, PREAUTH) Kind is the status
// and Text the rest of the line, response code included; for other
// untagged data Kind is the keyword (EXISTS, FETCH, ...), Num the number
// before it if any, and Items the parsed rest. A continuation request has
// Tag "+".
type resp struct {
	Tag   string
	Num   uint32
	Kind  string
	Text  string
	Items []any // string for atoms and strings, nil for NIL, []any for lists
}

// respError is a tagged NO or BAD.
type respError struct {
	Status, Text string
}

func (e *respError) Error() string { return e.Status + " " + e.Text }

// dialWire connects, reads the greeting and the capabilities, and starts
// TLS first when srv asks for it.
func dialWire(ctx context.Context, srv Conn) (*wire, error) {
	d := net.Dialer{Timeout: imapTimeout}
	conn, err := d.DialContext(ctx, "tcp", srv.Addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to the IMAP server: %w; is it running and listening there?", err)
	}
	c := &wire{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), w: bufio.NewWriterSize(conn, 16<<10)}
	conn.SetDeadline(time.Now().Add(imapTimeout))
	g, err := c.read()
	if err == nil && (g.Tag != "*" || g.Kind != "OK") {
		err = fmt.Errorf("greeting %q", g.Kind+" "+g.Text)
	}
	if err == nil && srv.StartTLS {
		if _, err = c.run(nil, "STARTTLS"); err == nil {
			tc := tls.Client(conn, srv.tlsConfig())
			c.conn, c.r, c.w = tc, bufio.NewReaderSize(tc, 64<<10), bufio.NewWriterSize(tc, 16<<10)
		}
	}
	if err == nil {
		_, err = c.run(func(r *resp) error {
			if r.Kind == "CAPABILITY" {
				c.setCaps(r.Items)
			}
			return nil
		}, "CAPABILITY")
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("opening an IMAP session with %s: %w", srv.Addr, err)
	}
	conn.SetDeadline(time.Time{})
	return c, nil
}

func (c *wire) Close() error { return c.conn.Close() }

func (c *wire) setCaps(items []any) {
	c.caps = map[string]bool{}
	for _, it := range items {
		if s, ok := it.(string); ok {
			c.caps[strings.ToUpper(s)] = true
		}
	}
}

// run sends one command and reads responses until its tagged reply, whose
// text it returns, passing each untagged one to untagged; the first error
// untagged returns is returned after the tagged reply. A NO or BAD is a
// *respError. A literal in args (type literal) is sent as LITERAL+ when
// the server allows it, otherwise after the server's continuation request.
func (c *wire) run(untagged func(*resp) error, args ...any) (string, error) {
	c.tag++
	tag := "c" + strconv.Itoa(c.tag)
	c.w.WriteString(tag)
	var firstErr error
	handle := func(r *resp) {
		if untagged != nil && firstErr == nil {
			firstErr = untagged(r)
		}
	}
	for _, a := range args {
		c.w.WriteByte(' ')
		switch a := a.(type) {
		case string:
			c.w.WriteString(a)
		case literal:
			if c.caps["LITERAL+"] {
				fmt.Fprintf(c.w, "{%d+}\r\n", len(a))
				c.w.Write(a)
				continue
			}
			fmt.Fprintf(c.w, "{%d}\r\n", len(a))
			if err := c.w.Flush(); err != nil {
				return "", err
			}
			for {
				r, err := c.read()
				if err != nil {
					return "", err
				}
				if r.Tag == "+" {
					break
				}
				if r.Tag == tag {
					return "", &respError{r.Kind, r.Text}
				}
				handle(r)
			}
			c.w.Write(a)
		}
	}
	c.w.WriteString("\r\n")
	if err := c.w.Flush(); err != nil {
		return "", err
	}
	for {
		r, err := c.read()
		if err != nil {
			return "", err
		}
		switch r.Tag {
		case "*":
			handle(r)
			continue
		case tag:
		default:
			return "", fmt.Errorf("unexpected response %s %s %s waiting for %s", r.Tag, r.Kind, r.Text, tag)
		}
		if r.Kind != "OK" {
			return "", &respError{r.Kind, r.Text}
		}
		return r.Text, firstErr
	}
}

// literal is a command argument sent as a literal.
type literal []byte

// read reads one response.
func (c *wire) read() (*resp, error) {
	tag, err := c.atom()
	if err != nil {
		return nil, err
	}
	r := &resp{Tag: tag}
	if tag == "+" {
		r.Text, err = c.line()
		return r, err
	}
	if err := c.space(); err != nil {
		return nil, err
	}
	word, err := c.atom()
	if err != nil {
		return nil, err
	}
	if n, err := strconv.ParseUint(word, 10, 32); err == nil && tag == "*" {
		r.Num = uint32(n)
		if err := c.space(); err != nil {
			return nil, err
		}
		if word, err = c.atom(); err != nil {
			return nil, err
		}
	}
	r.Kind = strings.ToUpper(word)
	switch {
	case tag != "*", r.Kind == "OK", r.Kind == "NO", r.Kind == "BAD", r.Kind == "BYE", r.Kind == "PREAUTH":
		r.Text, err = c.line()
		return r, err
	}
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return nil, err
		}
		switch b {
		case '\r':
			if b, err = c.r.ReadByte(); err != nil || b != '\n' {
				return nil, fmt.Errorf("%s response: CR without LF", r.Kind)
			}
			return r, nil
		case ' ':
		default:
			c.r.UnreadByte()
		}
		it, err := c.item(0)
		if err != nil {
			return nil, fmt.Errorf("%s response: %w", r.Kind, err)
		}
		r.Items = append(r.Items, it)
	}
}

// line returns the rest of the line after an optional space.
func (c *wire) line() (string, error) {
	s, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(s, "\r\n") {
		return "", errors.New("line without CRLF")
	}
	return strings.TrimPrefix(s[:len(s)-2], " "), nil
}

func (c *wire) space() error {
	b, err := c.r.ReadByte()
	if err != nil {
		return err
	}
	if b != ' ' {
		return fmt.Errorf("expected a space, got %q", b)
	}
	return nil
}

// atom reads up to a space, parenthesis or CRLF; brackets may hold
// spaces (BODY[HEADER.FIELDS (FROM)]).
func (c *wire) atom() (string, error) {
	var sb strings.Builder
	depth := 0
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return "", err
		}
		switch {
		case b == '[':
			depth++
		case b == ']':
			depth--
		case depth == 0 && (b == ' ' || b == '(' || b == ')' || b == '\r'):
			c.r.UnreadByte()
			if sb.Len() == 0 {
				return "", fmt.Errorf("expected an atom, got %q", b)
			}
			return sb.String(), nil
		case b == '\n':
			return "", errors.New("LF without CR")
		}
		sb.WriteByte(b)
	}
}

// item reads an atom, NIL, number, string, literal or list.
func (c *wire) item(depth int) (any, error) {
	if depth > 32 {
		return nil, errors.New("lists nested too deep")
	}
	b, err := c.r.ReadByte()
	if err != nil {
		return nil, err
	}
	switch b {
	case '(':
		l := []any{}
		for {
			b, err := c.r.ReadByte()
			if err != nil {
				return nil, err
			}
			switch b {
			case ')':
				return l, nil
			case ' ':
				continue
			}
			c.r.UnreadByte()
			it, err := c.item(depth + 1)
			if err != nil {
				return nil, err
			}
			l = append(l, it)
		}
	case '"':
		var sb strings.Builder
		for {
			b, err := c.r.ReadByte()
			if err != nil {
				return nil, err
			}
			switch b {
			case '"':
				return sb.String(), nil
			case '\\':
				if b, err = c.r.ReadByte(); err != nil {
					return nil, err
				}
			case '\r', '\n':
				return nil, errors.New("CR or LF in a quoted string")
			}
			sb.WriteByte(b)
		}
	case '{', '~':
		if b == '~' { // literal8 (RFC 3516)
			if b, err = c.r.ReadByte(); err != nil || b != '{' {
				return nil, errors.New("~ not followed by {")
			}
		}
		s, err := c.r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(strings.TrimSuffix(s, "}\r\n"))
		if err != nil || n < 0 || n > maxLiteral || !strings.HasSuffix(s, "}\r\n") {
			return nil, fmt.Errorf("bad literal length %q", s)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, err
		}
		return string(buf), nil
	}
	c.r.UnreadByte()
	a, err := c.atom()
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(a, "NIL") {
		return nil, nil
	}
	return a, nil
}
