package pop3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"casella/internal/blob"
	"casella/internal/directory"
	"casella/internal/limit"
	"casella/internal/sessionlog"
)

// Line limits. RFC 2449 section 4 allows 255 octets of command and
// arguments; clients exceed that with long SASL responses, so up to
// maxLine octets with CRLF are accepted. A client that keeps sending past
// maxDiscard without a line break is disconnected.
const (
	maxLine    = 1000
	maxDiscard = 64 << 10
)

// refusedText says why a connection is refused (RFC 3206 SYS/TEMP: a
// temporary condition of the server).
var refusedText = map[string]string{
	limit.RefusedTotal:    "server busy, try again later",
	limit.RefusedProtocol: "too many POP3 connections, try again later",
	limit.RefusedAddress:  "too many connections from your address, try again later",
}

// maxAuthFailures is how many failed logins a session may have before the
// server closes it.
const maxAuthFailures = 3

// state is a POP3 session state (RFC 1939 section 3).
type state int

const (
	stateAuthorization state = iota
	stateTransaction
)

// errClose ends a session after its reply was sent.
var errClose = errors.New("session closed")

// session is one client connection.
type session struct {
	s      *Server
	conn   net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	log    *slog.Logger
	key    string // limit.Key of the client
	isTLS  bool
	ctx    context.Context // canceled when the server gives up on the session
	cancel context.CancelFunc

	// mu orders interrupt against the session arming its read deadline.
	mu sync.Mutex

	state    state
	user     string // from USER, for PASS
	failures int
	acct     directory.Account
	blobs    blob.Store // the account's, set at login
	drop     *maildrop
	unlock   func() // releases the maildrop lock

	sess      *sessionlog.Session // the session's login and end lines
	endReason string              // why the session ended; "": see sessionlog
}

func (s *Server) serveConn(tcp net.Conn, implicitTLS bool) {
	counted := sessionlog.Wrap(tcp)
	var conn net.Conn = counted
	log := s.logger().With("remote", conn.RemoteAddr().String())
	sess := sessionlog.Start(log, "pop3", counted)
	endReason := ""
	defer func() { sess.End(endReason) }()
	defer conn.Close()
	key := limit.Key(conn.RemoteAddr())
	release, refused := s.Conns.Admit(key)
	if refused != "" {
		if !implicitTLS {
			conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(conn, "-ERR [SYS/TEMP] "+refusedText[refused]+"\r\n")
		}
		log.Info("pop3 connection refused", "reason", refused)
		endReason = "refused: " + refused
		return
	}
	defer release()
	if implicitTLS {
		tc := tls.Server(conn, s.TLS)
		conn.SetDeadline(time.Now().Add(s.commandTimeout()))
		if err := tc.Handshake(); err != nil {
			log.Info("pop3 TLS handshake failed", "err", err)
			endReason = "TLS handshake failed"
			return
		}
		conn.SetDeadline(time.Time{})
		conn = tc
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ss := &session{
		s:      s,
		conn:   conn,
		br:     bufio.NewReaderSize(conn, maxLine+24),
		bw:     bufio.NewWriter(conn),
		log:    log,
		key:    key,
		isTLS:  implicitTLS,
		ctx:    ctx,
		cancel: cancel,
		sess:   sess,
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return
	}
	s.sessions[ss] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, ss)
		s.mu.Unlock()
		if ss.unlock != nil {
			ss.unlock()
		}
	}()
	ss.run()
	endReason = ss.endReason
}

// run greets the client and executes its commands until QUIT, an error
// or shutdown.
func (ss *session) run() {
	host := ss.s.Hostname
	if host == "" {
		host = "localhost"
	}
	ss.reply("+OK %s Casella POP3 server ready", host)
	for {
		line, err := ss.readLine()
		if errors.Is(err, errLineTooLong) {
			ss.reply("-ERR line too long (at most %d octets)", maxLine)
			continue
		}
		if err != nil {
			if ss.s.closing.Load() {
				ss.endReason = sessionlog.ReasonShutdown
				ss.reply("-ERR [SYS/TEMP] server shutting down, try again later")
			}
			ss.flush()
			if !errors.Is(err, io.EOF) && !errors.Is(err, errClose) {
				ss.log.Debug("pop3 read failed", "err", err)
			}
			return
		}
		if err := ss.execute(line); err != nil {
			if errors.Is(err, errClose) && ss.endReason == "" {
				ss.endReason = "closed by the server"
			}
			ss.flush()
			if !errors.Is(err, errClose) {
				ss.log.Debug("pop3 session ended", "err", err)
			}
			return
		}
	}
}

// execute parses and runs one command line.
func (ss *session) execute(line []byte) error {
	cmd, err := parseCommand(line)
	if err != nil {
		ss.reply("-ERR %v", err)
		return nil
	}
	h, ok := commands[cmd.name]
	if !ok {
		ss.reply("-ERR unknown command %q", cmd.name)
		return nil
	}
	ss.sess.Command()
	if !h.states[ss.state] {
		if ss.state == stateAuthorization {
			ss.reply("-ERR %s is not allowed before login", cmd.name)
		} else {
			ss.reply("-ERR %s is not allowed after login", cmd.name)
		}
		return nil
	}
	wasAuthorization := ss.state == stateAuthorization
	err = h.fn(ss, cmd)
	if wasAuthorization && ss.state == stateTransaction {
		mech := "USER"
		if cmd.name == "AUTH" {
			mech = "PLAIN" // the one mechanism offered (auth.go)
		}
		ss.sess.Login(ss.acct.Address, mech, ss.isTLS)
	}
	if cmd.name == "QUIT" {
		ss.endReason = sessionlog.ReasonLogout
	}
	return err
}

// errLineTooLong reports a command line over maxLine octets.
var errLineTooLong = errors.New("line too long")

// readLine reads one line, flushing replies first, with the idle timeout
// armed. A line longer than maxLine is discarded through its end and
// reported as errLineTooLong.
func (ss *session) readLine() ([]byte, error) {
	if err := ss.flush(); err != nil {
		return nil, err
	}
	ss.mu.Lock()
	if ss.s.closing.Load() {
		ss.mu.Unlock()
		return nil, errClose
	}
	ss.conn.SetReadDeadline(time.Now().Add(ss.s.idleTimeout()))
	ss.mu.Unlock()

	line, err := ss.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || err == nil && len(line) > maxLine {
		discarded := len(line)
		for errors.Is(err, bufio.ErrBufferFull) {
			if discarded > maxDiscard {
				ss.reply("-ERR line too long, closing connection")
				ss.endReason = "line too long"
				return nil, errClose
			}
			line, err = ss.br.ReadSlice('\n')
			discarded += len(line)
		}
		if err != nil {
			return nil, err
		}
		return nil, errLineTooLong
	}
	if err != nil {
		return nil, err
	}
	return line, nil
}

// interrupt makes a session that waits for a command stop waiting; a
// session in a command ends before reading the next one.
func (ss *session) interrupt() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.conn.SetReadDeadline(time.Now())
}

// abort ends the session at once: its store calls are canceled and its
// connection closed.
func (ss *session) abort() {
	ss.cancel()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.conn.Close()
}

// reply queues a one-line response. Write errors surface at the next
// flush.
func (ss *session) reply(format string, args ...any) {
	fmt.Fprintf(ss.bw, format, args...)
	ss.bw.WriteString("\r\n")
}

// flush sends queued responses, unless another whole pipelined command is
// already buffered (RFC 2449 section 6.6: the server may batch responses).
func (ss *session) flush() error {
	if buf, _ := ss.br.Peek(ss.br.Buffered()); bytes.IndexByte(buf, '\n') >= 0 {
		return nil
	}
	ss.conn.SetWriteDeadline(time.Now().Add(ss.s.idleTimeout()))
	if err := ss.bw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// commandContext returns the context for one command's store and blob
// calls.
func (ss *session) commandContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(ss.ctx, ss.s.commandTimeout())
}

// plainAllowed reports whether the session may send a password: over TLS,
// or from a loopback client when the server allows that.
func (ss *session) plainAllowed() bool {
	if ss.isTLS {
		return true
	}
	if !ss.s.AllowPlainLoopback {
		return false
	}
	a, ok := ss.conn.RemoteAddr().(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}

// tempFailure answers a store or blob failure.
func (ss *session) tempFailure(what string, err error) {
	ss.log.Warn("pop3 "+what+" failed", "account", ss.acct.Address, "err", err)
	ss.reply("-ERR [SYS/TEMP] mailbox temporarily unavailable, try again later")
}

// quoteArg shortens a client-supplied string for an error reply.
func quoteArg(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.ToValidUTF8(fmt.Sprintf("%q", s), "?")
}
