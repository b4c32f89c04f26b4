package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"casella/internal/directory"
	"casella/internal/limit"
)

// maxAuthFailures is how many failed logins a session may have before the
// server closes it.
const maxAuthFailures = 3

// session is one client connection.
type session struct {
	s        *Server
	conn     net.Conn
	r        *reader
	bw       *bufio.Writer
	log      *slog.Logger
	key      string // limit.Key of the client
	isTLS    bool
	authed   bool
	acct     directory.Account
	failures int
	done     bool
}

// handler serves one command; a returned error ends the session.
type handler func(ss *session, args []string) error

// commands lists every command and whether it needs a login (RFC 5804
// section 2). CAPABILITY, LOGOUT and NOOP work in both states.
var commands = map[string]struct {
	fn   handler
	auth bool
	any  bool
}{
	"CAPABILITY":     {fn: (*session).cmdCapability, any: true},
	"LOGOUT":         {fn: (*session).cmdLogout, any: true},
	"NOOP":           {fn: (*session).cmdNoop, any: true},
	"STARTTLS":       {fn: (*session).cmdStartTLS},
	"AUTHENTICATE":   {fn: (*session).cmdAuthenticate},
	"UNAUTHENTICATE": {fn: (*session).cmdUnauthenticate, auth: true},
	"HAVESPACE":      {fn: (*session).cmdHaveSpace, auth: true},
	"PUTSCRIPT":      {fn: (*session).cmdPutScript, auth: true},
	"CHECKSCRIPT":    {fn: (*session).cmdCheckScript, auth: true},
	"LISTSCRIPTS":    {fn: (*session).cmdListScripts, auth: true},
	"SETACTIVE":      {fn: (*session).cmdSetActive, auth: true},
	"GETSCRIPT":      {fn: (*session).cmdGetScript, auth: true},
	"DELETESCRIPT":   {fn: (*session).cmdDeleteScript, auth: true},
	"RENAMESCRIPT":   {fn: (*session).cmdRenameScript, auth: true},
}

func (s *Server) serveConn(conn net.Conn) {
	defer conn.Close()
	key := limit.Key(conn.RemoteAddr())
	release, refused := s.Conns.Admit(key)
	if refused != "" {
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, "BYE (TRYLATER) \"Too many connections, try again later\"\r\n")
		s.logger().Info("managesieve connection refused", "remote", conn.RemoteAddr().String(), "reason", refused)
		return
	}
	defer release()
	ss := &session{
		s:    s,
		conn: conn,
		r:    &reader{br: bufio.NewReader(conn), maxLit: s.maxScriptSize()},
		bw:   bufio.NewWriter(conn),
		log:  s.logger().With("remote", conn.RemoteAddr().String()),
		key:  key,
	}
	ss.capabilities()
	ss.ok("", "Casella ManageSieve ready")
	for !ss.done {
		// A client that does not read its responses is let go.
		ss.conn.SetWriteDeadline(time.Now().Add(s.commandTimeout()))
		if err := ss.bw.Flush(); err != nil {
			return
		}
		ss.conn.SetReadDeadline(time.Now().Add(s.idleTimeout()))
		name, args, err := ss.r.command()
		var pe *errProtocol
		switch {
		case errors.As(err, &pe):
			ss.no("", pe.msg)
			continue
		case errors.Is(err, errTooLarge):
			ss.bye("QUOTA/MAXSIZE", fmt.Sprintf("Literal larger than %d octets", s.maxScriptSize()))
			ss.bw.Flush()
			return
		case err != nil:
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				ss.log.Debug("reading command", "err", err)
			}
			return
		}
		ss.conn.SetReadDeadline(time.Time{})
		cmd, ok := commands[name]
		switch {
		case !ok:
			ss.no("", "Unknown command "+name)
		case cmd.auth && !ss.authed:
			ss.no("", name+" needs AUTHENTICATE first")
		case !cmd.auth && !cmd.any && ss.authed:
			ss.no("", name+" is not allowed after AUTHENTICATE")
		default:
			if err := cmd.fn(ss, args); err != nil {
				ss.log.Debug("session ends", "err", err)
				ss.bw.Flush()
				return
			}
		}
	}
	ss.bw.Flush()
}

func (ss *session) context() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), ss.s.commandTimeout())
}

func (ss *session) line(format string, args ...any) {
	fmt.Fprintf(ss.bw, format+"\r\n", args...)
}

// respond writes OK, NO or BYE with an optional response code and text
// (RFC 5804 section 1.3).
func (ss *session) respond(kind, code, text string) {
	var b strings.Builder
	b.WriteString(kind)
	if code != "" {
		b.WriteString(" (" + code + ")")
	}
	if text != "" {
		b.WriteString(" " + quote(text))
	}
	ss.line("%s", b.String())
}

func (ss *session) ok(code, text string)  { ss.respond("OK", code, text) }
func (ss *session) no(code, text string)  { ss.respond("NO", code, text) }
func (ss *session) bye(code, text string) { ss.respond("BYE", code, text) }

// tempFailure answers a failure of the script storage.
func (ss *session) tempFailure(what string, err error) {
	ss.log.Warn(what, "err", err)
	ss.no("TRYLATER", "Scripts are temporarily unavailable, try again later")
}

// plainAllowed reports whether a password may be sent now.
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

// startTLS upgrades the connection after STARTTLS was answered.
func (ss *session) startTLS() error {
	if ss.r.br.Buffered() > 0 {
		return errors.New("data after STARTTLS before the handshake")
	}
	tc := tls.Server(ss.conn, ss.s.TLS)
	ss.conn.SetDeadline(time.Now().Add(ss.s.commandTimeout()))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("starttls handshake: %w", err)
	}
	ss.conn.SetDeadline(time.Time{})
	ss.conn = tc
	ss.isTLS = true
	ss.r.br = bufio.NewReader(tc)
	ss.bw = bufio.NewWriter(tc)
	return nil
}
