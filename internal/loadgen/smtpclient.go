package loadgen

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"time"
)

// smtpClient is the SMTP client of the load (RFC 5321): EHLO, STARTTLS
// (RFC 3207), and MAIL, RCPT, DATA, RSET, QUIT.
//
// It is written here rather than taken from go-smtp because of DATA:
// go-smtp's client writes the message through net/textproto's
// dot-stuffing writer, which takes it a byte at a time. That was a fifth
// of the load generator's CPU, taken from the server under test on the
// same machine. Here a message is stuffed once, when composed, and
// written whole.
type smtpClient struct {
	conn    net.Conn
	text    *textproto.Conn
	timeout time.Duration
}

// dialSMTP greets the server at conn as helo, and with tlsConfig, starts
// TLS first. It closes conn when it fails.
func dialSMTP(conn net.Conn, helo string, tlsConfig *tls.Config, timeout time.Duration) (*smtpClient, error) {
	c := &smtpClient{conn: conn, text: textproto.NewConn(conn), timeout: timeout}
	err := c.greet(helo, tlsConfig)
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *smtpClient) greet(helo string, tlsConfig *tls.Config) error {
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	if _, _, err := c.text.ReadResponse(220); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if err := c.cmd(250, "EHLO %s", helo); err != nil {
		return err
	}
	if tlsConfig == nil {
		return nil
	}
	if err := c.cmd(220, "STARTTLS"); err != nil {
		return err
	}
	tc := tls.Client(c.conn, tlsConfig)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	c.conn, c.text = tc, textproto.NewConn(tc)
	// The session starts over after STARTTLS (RFC 3207 section 4.2).
	return c.cmd(250, "EHLO %s", helo)
}

// auth logs in with AUTH PLAIN (RFC 4954, RFC 4616).
func (c *smtpClient) auth(user, password string) error {
	return c.cmd(235, "AUTH PLAIN %s", base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+password)))
}

// cmd sends a command and reads its reply, which must have code expect.
// A reply with another code is a *textproto.Error.
func (c *smtpClient) cmd(expect int, format string, args ...any) error {
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	id, err := c.text.Cmd(format, args...)
	if err != nil {
		return err
	}
	c.text.StartResponse(id)
	defer c.text.EndResponse(id)
	_, _, err = c.text.ReadResponse(expect)
	return err
}

// send is one MAIL, RCPT, DATA exchange for msg, which stuff has made
// ready; it returns how long the server took to answer the end of the
// data.
func (c *smtpClient) send(from, to string, msg []byte) (time.Duration, error) {
	if err := c.cmd(250, "MAIL FROM:<%s>", from); err != nil {
		return 0, err
	}
	if err := c.cmd(250, "RCPT TO:<%s>", to); err != nil {
		return 0, err
	}
	if err := c.cmd(354, "DATA"); err != nil {
		return 0, err
	}
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.text.W.Write(msg); err != nil {
		return 0, err
	}
	if _, err := c.text.W.WriteString(".\r\n"); err != nil {
		return 0, err
	}
	// The buffer holds at most the last of the message: what follows is
	// the server's time.
	start := time.Now()
	if err := c.text.W.Flush(); err != nil {
		return 0, err
	}
	_, _, err := c.text.ReadResponse(250)
	return time.Since(start), err
}

// Reset clears a refused transaction, leaving the session usable.
func (c *smtpClient) Reset() error {
	return c.cmd(250, "RSET")
}

// Quit ends the session politely; the connection stays to be closed.
func (c *smtpClient) Quit() error {
	return c.cmd(221, "QUIT")
}

func (c *smtpClient) Close() error {
	return c.conn.Close()
}

// stuff returns msg ready to follow DATA (RFC 5321 section 4.5.2): a
// period added before every line that starts with one, and the last line
// ended with CRLF.
func stuff(msg []byte) []byte {
	if !bytes.HasSuffix(msg, []byte("\r\n")) {
		msg = append(msg, "\r\n"...)
	}
	if msg[0] != '.' && !bytes.Contains(msg, []byte("\n.")) {
		return msg
	}
	var b bytes.Buffer
	b.Grow(len(msg) + len(msg)/64)
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line = msg[:i+1]
		}
		if line[0] == '.' {
			b.WriteByte('.')
		}
		b.Write(line)
		msg = msg[len(line):]
	}
	return b.Bytes()
}

// replyCode returns the code of a server's reply that err carries, or 0.
func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}
