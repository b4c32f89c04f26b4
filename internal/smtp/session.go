package smtp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/directory"
	"casella/internal/spool"
	"casella/internal/srs"
	"casella/internal/store"
)

// role tells which service a listener offers.
type role int

const (
	roleMX role = iota
	roleSubmission
)

// backend makes go-smtp sessions for one role.
type backend struct {
	srv   *Server
	role  role
	guard *connGuard
}

// NewSession starts a session after HELO/EHLO, and again after STARTTLS.
func (b *backend) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	id := make([]byte, 6)
	rand.Read(id)
	s := &session{
		srv:   b.srv,
		role:  b.role,
		conn:  c,
		guard: b.guard,
		id:    hex.EncodeToString(id),
	}
	s.log = b.srv.log.With("session", s.id, "remote", c.Conn().RemoteAddr().String())
	if s.expired() {
		return nil, errTimeout
	}
	if err := checkHello(c.Hostname()); err != nil {
		return nil, s.refuse("bad_helo", errBadHello, "err", err)
	}
	if b.role == roleMX && b.srv.cfg.Blocklists != nil {
		if err := s.checkBlocklists(); err != nil {
			return nil, err
		}
	}
	if b.role == roleSubmission {
		if record := sessionRecord(c.Conn()); record != nil {
			return recordedSession{&submissionSession{session: s}, record}, nil
		}
		return &submissionSession{session: s}, nil
	}
	return s, nil
}

// session is one client's SMTP session; go-smtp calls it from the
// connection's goroutine only.
type session struct {
	srv   *Server
	role  role
	conn  *gosmtp.Conn
	guard *connGuard
	id    string
	log   *slog.Logger
	gone  bool // the connection was closed after a last reply

	// account is the authenticated submitter, nil before AUTH.
	account *directory.Account

	// The transaction, cleared by Reset.
	from   string
	utf8   bool
	local  []spool.Recipient // resolved local accounts, to Spool
	remote []spool.Recipient // submitted to other domains, to Outbound
	rcpts  []string          // accepted RCPT addresses, in order
	quotas map[int64]int64   // quota of each local account with one

	// requireTLS is MAIL FROM's REQUIRETLS (RFC 8689), for the envelope.
	requireTLS bool
}

// Reset discards the current transaction (RSET, new EHLO, end of DATA).
// go-smtp calls it for a repeated EHLO and then echoes the name given, so
// a bad name closes the connection here, before the echo.
func (s *session) Reset() {
	if s.gone || s.expired() {
		return
	}
	if err := checkHello(s.conn.Hostname()); err != nil {
		s.goodbye(s.refuse("bad_helo", errBadHello, "err", err))
		return
	}
	s.from, s.utf8, s.requireTLS = "", false, false
	s.local, s.remote, s.rcpts, s.quotas = nil, nil, nil, nil
}

// Logout ends the session.
func (s *session) Logout() error { return nil }

// Mail starts a transaction (RFC 5321 section 4.1.1.2).
func (s *session) Mail(from string, opts *gosmtp.MailOptions) error {
	s.Reset()
	if s.gone || s.expired() {
		return errTimeout
	}
	if err := checkAddress(from); err != nil {
		return s.refuse("bad_address", errBadSender, "from", strconv.Quote(from), "err", err)
	}
	utf8Mode := opts != nil && opts.UTF8
	if !utf8Mode && !isASCII(from) {
		return s.refuse("need_smtputf8", errNeedUTF8, "from", from)
	}
	if s.role == roleSubmission {
		if s.account == nil {
			return s.refuse("auth_required", errAuthRequired)
		}
		if !owns(s.account.Address, from) {
			return s.refuse("sender_not_owned", &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: fmt.Sprintf("Sender address <%s> is not yours; use %s or one of its +tags", from, s.account.Address)},
				"account", s.account.Address, "from", from)
		}
	}
	if s.role == roleMX && !s.srv.cfg.MessageRate.Allow(s.remoteIP()) {
		return s.refuse("rate", errRateLimited, "from", from)
	}
	// RFC 8689 section 4.1: REQUIRETLS is advertised, and taken, only
	// over TLS.
	requireTLS := opts != nil && opts.RequireTLS
	if _, isTLS := s.conn.TLSConnectionState(); requireTLS && !isTLS {
		return s.refuse("requiretls_without_tls", errRequireTLSPlain, "from", from)
	}
	s.from, s.utf8, s.requireTLS = from, utf8Mode, requireTLS
	return nil
}

var errRequireTLSPlain = &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 10}, Message: "REQUIRETLS needs a TLS session; use STARTTLS first"}

// Rcpt adds a recipient (RFC 5321 section 4.1.1.3) after resolving it.
func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if s.expired() {
		return errTimeout
	}
	if err := checkAddress(to); err != nil {
		return s.refuse("bad_address", errBadRecipient, "rcpt", strconv.Quote(to), "err", err)
	}
	if s.role == roleSubmission && s.account == nil {
		return s.refuse("auth_required", errAuthRequired)
	}
	if !s.utf8 && !isASCII(to) {
		return s.refuse("need_smtputf8", errNeedUTF8, "rcpt", to)
	}
	ctx, cancel := context.WithTimeout(s.srv.ctx, lookupTimeout)
	defer cancel()
	srsRcpt := ""
	if s.srv.cfg.SRS != nil && srs.IsSRS(to) {
		orig, handled, err := s.rcptSRS(ctx, to)
		if err != nil {
			return err
		}
		if handled {
			srsRcpt, to = to, orig
		}
	}
	rs, err := s.srv.cfg.Directory.Resolve(ctx, to)
	switch {
	case err == nil:
	case errors.Is(err, directory.ErrNotLocal) && srsRcpt != "":
		return s.addSRSRemote(srsRcpt, to)
	case errors.Is(err, directory.ErrNoSuchUser):
		return s.refuse("no_such_user", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: fmt.Sprintf("No such user <%s>", to)}, "rcpt", to)
	case errors.Is(err, directory.ErrNotLocal):
		if s.account == nil || s.srv.cfg.Outbound == nil {
			return s.refuse("relay", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Relaying denied"}, "rcpt", to)
		}
		if !s.srv.cfg.SendRate.Allow(s.account.Address) {
			return s.refuse("send_limit", errSendLimited, "account", s.account.Address, "rcpt", to)
		}
		s.remote = append(s.remote, spool.Recipient{Address: to})
		s.rcpts = append(s.rcpts, to)
		return nil
	case errors.Is(err, directory.ErrInvalid):
		return s.refuse("bad_address", &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 1, 3}, Message: fmt.Sprintf("Bad recipient address syntax <%s>", to)}, "rcpt", to)
	default:
		s.log.Warn("smtp: resolving recipient", "rcpt", to, "err", err)
		return errLocalFailure
	}
	if len(rs) == 0 {
		// A directory that resolves to nobody is broken; the address
		// may well be valid, so the sender should retry.
		s.log.Warn("smtp: recipient resolved to no account", "rcpt", to)
		return errLocalFailure
	}
	if err := s.checkQuota(ctx, rs); err != nil {
		return err
	}
	for _, r := range rs {
		s.local = append(s.local, spool.Recipient{Address: to, Account: int64(r.Account.ID), Tag: r.Tag, Cell: r.Account.Cell, Forward: r.Forward})
		if r.Account.Quota > 0 {
			if s.quotas == nil {
				s.quotas = map[int64]int64{}
			}
			s.quotas[int64(r.Account.ID)] = r.Account.Quota
		}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

// checkQuota refuses a recipient whose account is full, counting the
// messages accepted for it and not yet delivered (RFC 3463 code 4.2.2,
// temporary: the owner may make room). A failing lookup accepts the
// recipient: our store being down is not the sender's problem.
func (s *session) checkQuota(ctx context.Context, rs []directory.Recipient) error {
	if s.srv.cfg.Usage == nil {
		return nil
	}
	for _, r := range rs {
		if r.Account.Quota <= 0 {
			continue
		}
		u, err := s.srv.cfg.Usage(ctx, r.Account.ID)
		if err != nil {
			s.log.Warn("smtp: quota lookup failed; accepting", "account", r.Account.Address, "err", err)
			continue
		}
		if s.srv.cfg.Quota.Full(r.Account.ID, r.Account.Quota, u.Bytes) {
			return s.refuse("quota", errMailboxFull, "rcpt", r.Account.Address, "quota", r.Account.Quota, "usage", u.Bytes)
		}
	}
	return nil
}

// reserveQuota takes room for msg in the quota of every local recipient
// that has one, or refuses the message if one has no room for it. The
// delivery loop releases what it delivers; release gives the room back if
// the message is not spooled after all.
func (s *session) reserveQuota(msg []byte) (release func(), err error) {
	size := int64(len(msg))
	var taken []store.Account
	release = func() {
		for _, a := range taken {
			s.srv.cfg.Quota.Release(a, size)
		}
	}
	if len(s.quotas) == 0 {
		return release, nil
	}
	ctx, cancel := context.WithTimeout(s.srv.ctx, lookupTimeout)
	defer cancel()
	for _, r := range s.local {
		acct, q := store.Account(r.Account), s.quotas[r.Account]
		if q <= 0 {
			continue
		}
		var usage int64
		if s.srv.cfg.Usage != nil {
			u, err := s.srv.cfg.Usage(ctx, acct)
			if err != nil {
				// As at RCPT, a failing lookup accepts; the room is still
				// taken so that delivery gives it back.
				s.log.Warn("smtp: quota lookup failed; accepting", "account", acct, "err", err)
				q = 0
			}
			usage = u.Bytes
		}
		if !s.srv.cfg.Quota.Reserve(acct, q, usage, size) {
			release()
			return nil, s.refuse("quota", errMailboxFull, "rcpt", r.Address, "quota", q, "usage", usage, "size", size)
		}
		taken = append(taken, acct)
	}
	return release, nil
}

// refuse logs a refusal at info with its reason, counts it, and returns
// the reply.
func (s *session) refuse(reason string, e *gosmtp.SMTPError, attrs ...any) *gosmtp.SMTPError {
	s.log.Info("smtp: refused", append([]any{"reason", reason, "code", e.Code}, attrs...)...)
	if f := s.srv.cfg.Refused; f != nil {
		f(reason)
	}
	return e
}

// expired reports whether the connection timed out; the first time, it
// says goodbye (see connGuard).
func (s *session) expired() bool {
	if s.guard == nil || !s.guard.timedOut.Load() {
		return false
	}
	if !s.gone {
		s.goodbye(s.refuse("timeout", errTimeout))
	}
	return true
}

// goodbye sends a last reply and closes the connection. It writes on the
// connection itself, which go-smtp flushes after every reply, so nothing
// of go-smtp's comes after it.
func (s *session) goodbye(e *gosmtp.SMTPError) {
	if s.gone {
		return
	}
	s.gone = true
	c := s.conn.Conn()
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "%d %d.%d.%d %s\r\n", e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2], e.Message)
	c.Close()
}

// checkHello checks the name a client gives in HELO or EHLO, which go-smtp
// echoes in its reply: no control characters, valid UTF-8.
func checkHello(name string) error {
	return checkText(name)
}

// checkAddress checks a MAIL or RCPT address before anything else looks
// at it: no control characters (NUL, a bare CR) and valid UTF-8, so it
// can reach no header or log raw.
func checkAddress(addr string) error {
	return checkText(addr)
}

func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("invalid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("control character %U", r)
		}
	}
	return nil
}

// remoteIP returns the client's address without port.
func (s *session) remoteIP() string {
	addr := s.conn.Conn().RemoteAddr()
	if ta, ok := addr.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap().String()
		}
	}
	return addr.String()
}

// owns reports whether the account with canonical address account may
// send as addr: its own address or a subaddress of it (RFC 5233).
func owns(account, addr string) bool {
	at, aat := strings.LastIndexByte(addr, '@'), strings.LastIndexByte(account, '@')
	if at <= 0 || aat <= 0 {
		return false
	}
	local, domain := addr[:at], addr[at+1:]
	alocal, adomain := account[:aat], account[aat+1:]
	if !strings.EqualFold(domain, adomain) {
		return false
	}
	if strings.EqualFold(local, alocal) {
		return true
	}
	// The tag starts at the first '+' (RFC 5233 section 1).
	if i := strings.IndexByte(local, '+'); i > 0 {
		return strings.EqualFold(local[:i], alocal)
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Replies shared by several commands.
var (
	errAuthRequired = &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	// RFC 6531 section 3.5: an address with UTF-8 without the SMTPUTF8
	// parameter.
	errNeedUTF8 = &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 6, 7}, Message: "Non-ASCII address requires SMTPUTF8"}
	// errMailboxFull is RFC 3463 code 4.2.2, temporary: the owner may make
	// room.
	errMailboxFull = &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full, try again later"}
	// RFC 3463 codes 5.1.7 and 5.1.3: bad sender's and destination
	// mailbox address syntax; 5.5.2: syntax error.
	errBadSender    = &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 1, 7}, Message: "Bad sender address syntax: control characters or invalid UTF-8"}
	errBadRecipient = &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax: control characters or invalid UTF-8"}
	errBadHello     = &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 5, 2}, Message: "Invalid HELO/EHLO name: control characters or invalid UTF-8"}
	// errTimeout is RFC 3463 code 4.4.2, bad connection.
	errTimeout = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 4, 2}, Message: "Timeout waiting for the end of a command line; closing"}
	// errLocalFailure is our fault: the sender retries later.
	errLocalFailure = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem, try again later"}
)
