// Package sessionlog writes the two lines each client session of IMAP,
// POP3 and submission leaves in the log, as Dovecot's "Login" and
// "Logged out in=… out=…" do: one at login (account, client address, TLS,
// mechanism) and one at the end (duration, bytes in and out, commands, why
// it ended). With them a client that stalls or a session that ends badly
// can be investigated from the server.
//
// Implementation notes:
//   - Bytes are counted on the TCP connection, below TLS and COMPRESS: what
//     crossed the network.
//   - Counters are atomic: IMAP IDLE reads in a goroutine of its own.
//   - The first read error is kept to tell why a session ended when the
//     protocol did not say: the client closed it, or it timed out.
package sessionlog

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is a net.Conn that counts its bytes and keeps its first read error.
type Conn struct {
	net.Conn
	in, out atomic.Int64

	mu      sync.Mutex
	readErr error
}

// Wrap returns c counting its bytes.
func Wrap(c net.Conn) *Conn { return &Conn{Conn: c} }

func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.in.Add(int64(n))
	if err != nil {
		c.mu.Lock()
		if c.readErr == nil {
			c.readErr = err
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *Conn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.out.Add(int64(n))
	return n, err
}

// Reasons a session ended, for End.
const (
	ReasonLogout   = "logout"
	ReasonTimeout  = "idle timeout"
	ReasonClosed   = "client closed the connection"
	ReasonShutdown = "server shutdown"
)

// ReadEnd tells why reading from the client stopped: ReasonClosed,
// ReasonTimeout, the error's text, or "" when no read failed.
func (c *Conn) ReadEnd() string {
	c.mu.Lock()
	err := c.readErr
	c.mu.Unlock()
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return ReasonClosed
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ReasonTimeout
	}
	return err.Error()
}

// Session is one client session's record.
type Session struct {
	log      *slog.Logger
	name     string
	conn     *Conn
	start    time.Time
	commands atomic.Int64
}

// Start begins the record of a session over conn. Its lines go to log,
// which names the client's address, with messages that start with name.
func Start(log *slog.Logger, name string, conn *Conn) *Session {
	return &Session{log: log, name: name, conn: conn, start: time.Now()}
}

// Command counts one command.
func (s *Session) Command() { s.commands.Add(1) }

// Login logs a successful login; the end line names the account too.
func (s *Session) Login(account, mechanism string, tls bool) {
	s.log = s.log.With("account", account)
	s.log.Info(s.name+" login", "tls", tls, "mechanism", mechanism)
}

// End logs the end of the session. Reason "" is taken from the
// connection's first read error, or is "closed by the server".
func (s *Session) End(reason string) {
	if reason == "" {
		reason = s.conn.ReadEnd()
	}
	if reason == "" {
		reason = "closed by the server"
	}
	s.log.Info(s.name+" session ended", "duration", time.Since(s.start).Round(time.Millisecond),
		"in", s.conn.in.Load(), "out", s.conn.out.Load(), "commands", s.commands.Load(), "reason", reason)
}
