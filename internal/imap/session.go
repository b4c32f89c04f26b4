package imap

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
	"sync"
	"time"

	"casella/internal/blob"
	"casella/internal/directory"
	"casella/internal/limit"
	"casella/internal/sessionlog"
	"casella/internal/store"
)

// state is a session state (RFC 9051 section 3); states combine into the
// sets of the dispatch table.
type state int

const (
	stateNotAuth state = 1 << iota
	stateAuth
	stateSelected
)

func (s state) String() string {
	switch s {
	case stateNotAuth:
		return "not authenticated"
	case stateAuth:
		return "authenticated"
	case stateSelected:
		return "selected"
	}
	return "unknown"
}

// conn is one client connection and its session.
type conn struct {
	srv      *Server
	raw      net.Conn // the TCP connection, fixed for the connection's life
	nc       net.Conn // raw, or the TLS connection over it
	tls      bool
	loopback bool
	remote   string // limit.Key of the client's address
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc

	br  *bufio.Reader
	bw  *bufio.Writer // nil while idling (idle.go)
	out io.Writer     // what bw writes to: the connection, or the compressor
	// rErr and wErr are the first read and write errors: the connection
	// is done. They are apart because IDLE reads in another goroutine.
	rErr, wErr error
	p          parser
	deflate    *deflater // COMPRESS=DEFLATE is active (compress.go)

	state state
	acct  directory.Account
	blobs blob.Store // the account's, set at login
	// Extensions the client enabled (enable.go).
	condstore bool // CONDSTORE (RFC 7162 section 3.1)
	qresync   bool // QRESYNC (RFC 7162 section 3.2.3); implies condstore
	rev2      bool // IMAP4rev2 (RFC 9051): rev2 rules instead of rev1's
	utf8      bool // UTF8=ACCEPT (RFC 6855) or IMAP4rev2: UTF-8 mailbox names and strings
	uidonly   bool // UIDONLY (RFC 9586): no sequence numbers either way (uidonly.go)

	sel      *view        // the selected mailbox; nil outside the selected state
	live     liveSearches // searches kept updated (RFC 5267, context.go)
	closeNow bool         // a BYE was sent

	// mu is held by a command from the end of its tag to its tagged
	// response, and by the NOTIFY goroutine while it writes (notify.go).
	mu     sync.Mutex
	notify *notifier // an active NOTIFY; nil: none

	loginSlot func() // releases the account's connection slot; nil before login
	// badCommands counts consecutive BAD answers (countStatus).
	badCommands int

	sess      *sessionlog.Session // the session's login and end lines
	endReason string              // why the session ended; "": see sessionlog
}

// connIO records the connection's first I/O error, so that a failure of the
// network is told apart from a failure of a command.
type connIO struct{ c *conn }

func (r connIO) Read(b []byte) (int, error) {
	n, err := r.c.nc.Read(b)
	if err != nil && r.c.rErr == nil {
		r.c.rErr = err
	}
	return n, err
}

func (r connIO) Write(b []byte) (int, error) {
	r.c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	n, err := r.c.nc.Write(b)
	if err != nil && r.c.wErr == nil {
		r.c.wErr = err
	}
	return n, err
}

func newConn(s *Server, tcp net.Conn, implicitTLS bool) *conn {
	counted := sessionlog.Wrap(tcp)
	var nc net.Conn = counted
	c := &conn{srv: s, raw: nc, nc: nc, state: stateNotAuth}
	c.remote = limit.Key(nc.RemoteAddr())
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		c.loopback = a.IP.IsLoopback()
	}
	c.log = s.logger().With("proto", "imap", "remote", nc.RemoteAddr().String())
	c.sess = sessionlog.Start(c.log, "imap", counted)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.br = bufio.NewReader(connIO{c})
	c.out = connIO{c}
	c.bw = bufio.NewWriter(c.out)
	c.p = parser{r: c.br, cont: c.continueLiteral} // limits: command()
	if implicitTLS {
		c.nc = tls.Server(nc, s.TLS)
		c.tls = true
	}
	return c
}

func (c *conn) continueLiteral() error {
	c.writeLine("+ Ready for literal data")
	return c.flush()
}

// writeLine buffers one response line; CRLF is added.
func (c *conn) writeLine(format string, args ...any) {
	fmt.Fprintf(c.bw, format, args...)
	c.bw.WriteString("\r\n")
}

// writeBytes buffers a response built by an encoder; CRLF is added.
func (c *conn) writeBytes(b []byte) {
	c.bw.Write(b)
	c.bw.WriteString("\r\n")
}

func (c *conn) flush() error {
	if err := c.bw.Flush(); err != nil {
		return fmt.Errorf("writing to client: %w", err)
	}
	if c.deflate != nil {
		if err := c.deflate.Flush(); err != nil {
			return fmt.Errorf("writing to client: %w", err)
		}
	}
	return nil
}

// enc returns an encoder for this session's response syntax.
func (c *conn) enc() *encoder { return &encoder{utf8: c.utf8} }

func (c *conn) serve() {
	defer func() { c.sess.End(c.endReason) }()
	defer c.raw.Close()
	defer c.flush() // a BYE, if any
	defer c.cancel()
	defer c.unselect()
	defer func() {
		c.mu.Lock()
		c.stopNotify()
		c.mu.Unlock()
	}()
	release, refused := c.srv.Conns.Admit(c.remote)
	if refused != "" {
		c.log.Info("connection refused", "reason", refused)
		c.endReason = "refused: " + refused
		if !c.tls { // under implicit TLS, no handshake is spent on a refusal
			c.bye("[UNAVAILABLE] " + refusedText[refused])
		}
		return
	}
	defer release()
	defer c.releaseLogin()
	if tc, ok := c.nc.(*tls.Conn); ok {
		c.raw.SetDeadline(time.Now().Add(c.srv.commandTimeout()))
		if err := tc.HandshakeContext(c.ctx); err != nil {
			c.log.Debug("tls handshake failed", "err", err)
			return
		}
		c.raw.SetDeadline(time.Time{})
	}
	c.writeLine("* OK [CAPABILITY %s] %s Casella IMAP ready", c.capabilities(), c.srv.Hostname)
	if c.flush() != nil {
		return
	}
	for c.next() {
		c.command()
	}
}

// next reports whether the session reads another command: no BYE was
// sent, the connection works and the server is not shutting down. It
// takes c.mu, since the NOTIFY goroutine may have ended the session.
func (c *conn) next() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ioErr() != nil {
		c.endOnIOError()
		return false
	}
	if c.closeNow {
		return false
	}
	timeout := c.srv.idleTimeout()
	if c.state == stateNotAuth {
		timeout = c.srv.loginTimeout()
	}
	c.raw.SetReadDeadline(time.Now().Add(timeout))
	if c.srv.closing.Load() {
		c.endReason = sessionlog.ReasonShutdown
		c.bye("Server shutting down, reconnect in a moment")
		return false
	}
	return true
}

// bye ends the session with an untagged BYE (RFC 9051 section 7.1.5). It
// is flushed by the caller, or at once when sent outside a command.
func (c *conn) bye(text string) {
	c.writeLine("* BYE %s", text)
	c.closeNow = true
	if c.endReason == "" {
		c.endReason = "BYE " + text
	}
}

// ioErr returns the connection's first I/O error.
func (c *conn) ioErr() error {
	if c.rErr != nil {
		return c.rErr
	}
	return c.wErr
}

func (c *conn) endOnIOError() {
	var ne net.Error
	if c.wErr == nil && errors.As(c.rErr, &ne) && ne.Timeout() {
		c.raw.SetDeadline(time.Now().Add(writeTimeout))
		if c.srv.closing.Load() {
			c.endReason = sessionlog.ReasonShutdown
			c.bye("Server shutting down, reconnect in a moment")
		} else {
			c.endReason = sessionlog.ReasonTimeout
			c.bye("Autologout, idle for too long")
		}
		return
	}
	if c.wErr != nil {
		c.endReason = "writing to the client: " + c.wErr.Error()
	}
	c.log.Debug("connection ended", "err", c.ioErr())
}

// command is the command being executed.
type command struct {
	tag  string
	name string // upper case, "UID FETCH" for UID commands
	uid  bool
	code string // response code of the tagged OK, without brackets
	text string // text of the tagged OK; "" for "<name> completed"
	// responded: the handler wrote the tagged response itself.
	responded bool
}

// Limits on a command before login, as Dovecot and mox keep them: enough
// for LOGIN, AUTHENTICATE and ID (whose literals count together), too little
// for a client that has not logged in to take the server's memory.
const (
	preAuthLine    = 8 << 10
	preAuthLiteral = 8 << 10
	preAuthCommand = 16 << 10
)

// command reads and executes one command and writes its responses.
func (c *conn) command() {
	c.p.begin()
	if c.state == stateNotAuth {
		c.p.maxLine, c.p.maxLiteral, c.p.maxCommand = preAuthLine, preAuthLiteral, preAuthCommand
	} else {
		// A command holds at most one largest literal and a line's worth
		// of other bytes; APPEND's literals share maxLiteral (append.go).
		c.p.maxLine, c.p.maxLiteral, c.p.maxCommand = maxLine, c.srv.maxLiteral(), c.srv.maxLiteral()+maxLine
	}
	tag, err := c.p.tag()
	// The command owns the session until it is answered; NOTIFY waits.
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if c.ioErr() == nil {
			c.writeLine("* BAD %s", errText(err))
			c.recover(err)
			c.countStatus("BAD")
			c.flush()
		}
		return
	}
	c.sess.Command()
	cmd := &command{tag: tag}
	name, err := c.commandName(cmd)
	if err != nil {
		if c.ioErr() == nil {
			c.respond(cmd, err)
		}
		return
	}
	cmd.name = name
	h, ok := commands[name]
	if !ok {
		c.respond(cmd, errSyntax("unknown command %s", name))
		return
	}
	if h.states&c.state == 0 {
		c.respond(cmd, errSyntax("%s is not allowed in the %s state", name, c.state))
		return
	}
	if c.uidonly && seqCommands[name] {
		c.respond(cmd, errUIDRequired(name+" takes sequence numbers"))
		return
	}
	wasNotAuth := c.state == stateNotAuth
	condstore := c.condstore
	err = h.fn(c, cmd)
	if wasNotAuth && c.state != stateNotAuth {
		mech := "LOGIN"
		if name == "AUTHENTICATE" {
			mech = "PLAIN" // the one mechanism offered (auth.go)
		}
		c.sess.Login(c.acct.Address, mech, c.tls)
	}
	if name == "LOGOUT" && c.closeNow {
		c.endReason = sessionlog.ReasonLogout
	}
	if c.ioErr() != nil {
		return
	}
	if c.sel != nil && !h.noUpdates && !c.closeNow {
		// Untagged updates go before the tagged response. EXPUNGE waits
		// after FETCH, STORE and SEARCH (RFC 9051 section 7.5.1).
		ctx, cancel := c.commandContext()
		if err := c.sync(ctx, !h.keepSeqs); err != nil {
			c.log.Warn("reading mailbox changes", "err", err)
		} else if err := c.updateLiveSearches(ctx); err != nil {
			c.log.Warn("updating searches", "err", err)
		}
		cancel()
	}
	if !condstore && c.condstore && c.sel != nil && !h.noUpdates && !c.closeNow {
		// The first CONDSTORE-enabling command while a mailbox is
		// selected announces its HIGHESTMODSEQ (RFC 7162 section 3.1);
		// SELECT announces it itself.
		c.writeLine("* OK [HIGHESTMODSEQ %d] Highest", c.sel.announcedModSeq())
	}
	if c.closeNow || cmd.responded {
		return
	}
	c.respond(cmd, err)
}

// commandName reads "SP name" after the tag, and the second word of a UID
// command.
func (c *conn) commandName(cmd *command) (string, error) {
	if err := c.p.sp(); err != nil {
		return "", err
	}
	name, err := c.p.atom()
	if err != nil {
		return "", err
	}
	name = strings.ToUpper(name)
	if name == "UID" {
		if err := c.p.sp(); err != nil {
			return "", err
		}
		sub, err := c.p.atom()
		if err != nil {
			return "", err
		}
		name = "UID " + strings.ToUpper(sub)
		cmd.uid = true
	}
	return name, nil
}

func (c *conn) commandContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.ctx, c.srv.commandTimeout())
}

// respond writes the tagged response for err (nil: OK) and skips what is
// left of a command that failed to parse.
func (c *conn) respond(cmd *command, err error) {
	if err == nil {
		code := ""
		if cmd.code != "" {
			code = "[" + cmd.code + "] "
		}
		text := cmd.text
		if text == "" {
			text = cmd.name + " completed"
		}
		c.writeLine("%s OK %s%s", cmd.tag, code, text)
		c.countStatus("OK")
		c.flush()
		return
	}
	status, text := c.classify(err)
	c.recover(err)
	c.writeLine("%s %s %s", cmd.tag, status, text)
	c.countStatus(status)
	c.flush()
}

// Consecutive BAD answers after which the session ends, as Dovecot does:
// a client that keeps sending what is not IMAP (such as an HTTP request
// sent to the IMAP port, the ALPACA cross-protocol attack) is not served
// line after line. Before login fewer are allowed.
const (
	maxBadCommands        = 20
	maxBadCommandsPreAuth = 10
)

// countStatus counts consecutive BAD answers and ends the session after
// too many.
func (c *conn) countStatus(status string) {
	if status != "BAD" {
		c.badCommands = 0
		return
	}
	c.badCommands++
	limit := maxBadCommands
	if c.state == stateNotAuth {
		limit = maxBadCommandsPreAuth
	}
	if c.badCommands >= limit && !c.closeNow {
		c.bye("Too many invalid commands")
	}
}

// recover brings the parser back to the start of a command after err.
func (c *conn) recover(err error) {
	var big *literalTooBigError
	switch {
	case errors.Is(err, errLineTooLong):
		c.bye("Command line too long")
	case errors.As(err, &big) && !big.sync:
		// The literal is on its way and too big to read and drop.
		c.bye("[TOOBIG] Literal too big")
	case !c.p.lineDone:
		if errors.Is(c.p.discardLine(), errLineTooLong) {
			c.bye("Command too long")
		}
	}
}

// responseError is a tagged NO or BAD with a response code (RFC 5530).
type responseError struct {
	status, code, text string
}

func (e *responseError) Error() string { return e.text }

func errNo(code, format string, args ...any) error {
	return &responseError{"NO", code, fmt.Sprintf(format, args...)}
}

func errBad(code, format string, args ...any) error {
	return &responseError{"BAD", code, fmt.Sprintf(format, args...)}
}

func errText(err error) string {
	var se *syntaxError
	if errors.As(err, &se) {
		return "Syntax error: " + se.msg
	}
	return err.Error()
}

// classify turns a command's error into a tagged status and text. Store
// errors that are not the user's doing become NO [UNAVAILABLE]: the client
// retries later and the session stays usable.
func (c *conn) classify(err error) (status, text string) {
	var (
		re      *responseError
		se      *syntaxError
		big     *literalTooBigError
		corrupt *blob.CorruptError
	)
	switch {
	case errors.As(err, &re):
		if re.code != "" {
			return re.status, "[" + re.code + "] " + re.text
		}
		return re.status, re.text
	case errors.As(err, &se):
		return "BAD", errText(err)
	case errors.Is(err, errLineTooLong):
		return "BAD", "Command line too long"
	case errors.As(err, &big):
		if big.sync && !big.invalid {
			return "NO", "[TOOBIG] " + big.Error()
		}
		return "BAD", "[TOOBIG] " + big.Error()
	case errors.Is(err, store.ErrNotFound):
		return "NO", "[NONEXISTENT] No such mailbox"
	case errors.Is(err, store.ErrExists):
		return "NO", "[ALREADYEXISTS] Mailbox already exists"
	case errors.Is(err, store.ErrNotPermitted):
		return "NO", "[CANNOT] Operation not permitted on this mailbox"
	case errors.Is(err, store.ErrHasChildren):
		return "NO", "[HASCHILDREN] Mailbox has child mailboxes, delete them first" // RFC 9051 section 7.1
	case errors.Is(err, store.ErrTooManyKeywords):
		return "NO", fmt.Sprintf("[LIMIT] A mailbox can have at most %d keywords, use one it has", store.MaxMailboxKeywords)
	case errors.Is(err, store.ErrInvalidName):
		return "NO", "[CANNOT] Invalid mailbox name"
	case errors.As(err, &corrupt):
		c.log.Error("corrupt message blob, not served", "err", err, "account", c.acct.ID)
	case errors.Is(err, blob.ErrNotFound):
		c.log.Error("message blob missing", "err", err, "account", c.acct.ID)
	default:
		c.log.Warn("command failed", "err", err, "account", c.acct.ID)
	}
	return "NO", "[UNAVAILABLE] Mailbox store temporarily unavailable, try again"
}
