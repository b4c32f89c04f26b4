package smtp

import (
	"bytes"
	"errors"
	"net"
	"sync/atomic"
)

// connGuard watches one connection below go-smtp for what go-smtp hides
// from the session:
//
//   - A line that starts with ".\r" and no LF. go-smtp's DATA reader
//     drops the dot and the CR without a word, so the session never sees
//     this bare CR (RFC 5321 section 2.3.8 allows CR only before LF).
//     The guard reads the plaintext stream through go-smtp's Debug tee,
//     which sees it after TLS, and the session refuses the message.
//   - A command timeout. bufio returns the bytes of a partial line without
//     the read's error, so go-smtp would execute a command cut off by the
//     timeout; the session refuses anything once the guard saw one.
//
// The Debug tee also carries the server's replies; they are whole lines
// starting with a digit, so they can neither contain nor hide the
// sequence, and during DATA the server writes nothing.
type connGuard struct {
	state    int // of the ".\r" scan, across writes
	bareCR   atomic.Bool
	timedOut atomic.Bool
}

// States of the scan: nothing, after LF, after LF ".", after LF ".\r".
const (
	scanLine = iota
	scanLF
	scanDot
	scanDotCR
)

var lfDot = []byte("\n.")

// Write scans p, part of the connection's stream; it is go-smtp's Debug
// writer and never fails.
func (g *connGuard) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		switch g.state {
		case scanLine:
			// Lines that start with a dot are rare: jump from one to
			// the next, minding an LF at the end of this write.
			i := bytes.Index(p, lfDot)
			if i < 0 {
				if p[len(p)-1] == '\n' {
					g.state = scanLF
				}
				return n, nil
			}
			p, g.state = p[i+2:], scanDot
		case scanLF:
			g.state = scanLine
			if p[0] == '.' {
				p, g.state = p[1:], scanDot
			}
		case scanDot:
			g.state = scanLine
			if p[0] == '\r' {
				p, g.state = p[1:], scanDotCR
			}
		case scanDotCR:
			// LF ends the message; the scan goes on from it.
			if p[0] != '\n' {
				g.bareCR.Store(true)
			}
			g.state = scanLine
		}
	}
	return n, nil
}

// takeBareCR reports whether a line starting ".\r" without LF came since
// the last call.
func (g *connGuard) takeBareCR() bool { return g.bareCR.Swap(false) }

// noteRead records a read's error: after a timeout the connection is
// done, and every further read fails at once with the same error.
func (g *connGuard) noteRead(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		g.timedOut.Store(true)
	}
}

// errTimedOut is what reads return once the connection timed out: a
// timeout, so that go-smtp answers 421 4.4.2 and closes.
var errTimedOut error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "smtp: command timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return false }

// oneConn is a listener that hands out one connection, so that each
// connection gets a go-smtp server, with a guard, of its own.
type oneConn struct {
	c    net.Conn
	done bool
}

var errServed = errors.New("smtp: connection handed out")

func (o *oneConn) Accept() (net.Conn, error) {
	if o.done {
		return nil, errServed
	}
	o.done = true
	return o.c, nil
}

func (o *oneConn) Close() error   { return nil }
func (o *oneConn) Addr() net.Addr { return o.c.LocalAddr() }
