package smtp

import (
	"net"
	"sync"
	"time"

	"casella/internal/limit"
	"casella/internal/sessionlog"
)

// limitListener applies the per-address connection limit and registers
// accepted connections with the Server, so Shutdown can close them.
type limitListener struct {
	net.Listener
	srv *Server
	// reply sends "421 4.7.0" to refused clients; off below TLS.
	reply bool
	// record logs each session's login and end (package sessionlog).
	record bool
}

// Accept returns the next connection within the limits; refused ones are
// answered and closed without returning.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		release, refused := l.srv.cfg.Conns.Admit(limit.Key(c.RemoteAddr()))
		if refused != "" {
			l.refuse(c, refused)
			continue
		}
		tc := &trackedConn{Conn: c, srv: l.srv, release: release}
		if l.record {
			counted := sessionlog.Wrap(c)
			tc.Conn = counted
			tc.record = sessionlog.Start(l.srv.log.With("remote", c.RemoteAddr().String()), "submission", counted)
		}
		if !l.srv.track(tc) {
			tc.Close()
			continue
		}
		return tc, nil
	}
}

// refusedText says why a connection is refused.
var refusedText = map[string]string{
	limit.RefusedTotal:    "Server busy, try again later",
	limit.RefusedProtocol: "Too many SMTP connections, try again later",
	limit.RefusedAddress:  "Too many connections from your address, try again later",
}

// refuse answers a client over a connection cap (RFC 3463 code 4.7.0, a
// temporary policy refusal) and closes it.
func (l *limitListener) refuse(c net.Conn, reason string) {
	l.srv.log.Info("smtp: refused", "reason", reason, "remote", c.RemoteAddr().String())
	if l.reply {
		// A fresh socket's send buffer takes the line at once; the
		// deadline only guards against the impossible.
		c.SetWriteDeadline(time.Now().Add(time.Second))
		c.Write([]byte("421 4.7.0 " + refusedText[reason] + "\r\n"))
	}
	c.Close()
}

// trackedConn releases its connection slot and leaves the Server's set
// when closed.
type trackedConn struct {
	net.Conn
	srv     *Server
	release func()
	record  *sessionlog.Session // nil: not logged
	once    sync.Once
	guard   *connGuard // set before the session's first read
}

// Read reads from the connection; after a timeout every read fails at
// once (see connGuard).
func (c *trackedConn) Read(b []byte) (int, error) {
	if c.guard != nil && c.guard.timedOut.Load() {
		return 0, errTimedOut
	}
	n, err := c.Conn.Read(b)
	if err != nil && c.guard != nil {
		c.guard.noteRead(err)
	}
	return n, err
}

// Close closes the connection once.
func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.release()
		c.srv.untrack(c)
		if c.record != nil {
			c.record.End("")
		}
	})
	return err
}

// track adds c to the live connections; false once shutting down.
func (s *Server) track(c *trackedConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if len(s.conns) == 0 && s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
}
