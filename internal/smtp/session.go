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
	"strings"
	"unicode/utf8"

	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/directory"
	"casella/internal/limit"
	"casella/internal/spool"
)

// role tells which service a listener offers.
type role int

const (
	roleMX role = iota
	roleSubmission
)

// backend makes go-smtp sessions for one role.
type backend struct {
	srv  *Server
	role role
}

// NewSession starts a session after HELO/EHLO, and again after STARTTLS.
func (b *backend) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	id := make([]byte, 6)
	rand.Read(id)
	s := &session{
		srv:  b.srv,
		role: b.role,
		conn: c,
		id:   hex.EncodeToString(id),
	}
	s.log = b.srv.log.With("session", s.id, "remote", c.Conn().RemoteAddr().String())
	if b.role == roleMX && b.srv.cfg.Blocklists != nil {
		if err := s.checkBlocklists(); err != nil {
			return nil, err
		}
	}
	if b.role == roleSubmission {
		return &submissionSession{session: s}, nil
	}
	return s, nil
}

// session is one client's SMTP session; go-smtp calls it from the
// connection's goroutine only.
type session struct {
	srv  *Server
	role role
	conn *gosmtp.Conn
	id   string
	log  *slog.Logger

	// account is the authenticated submitter, nil before AUTH.
	account *directory.Account

	// The transaction, cleared by Reset.
	from   string
	utf8   bool
	local  []spool.Recipient // resolved local accounts, to Spool
	remote []spool.Recipient // submitted to other domains, to Outbound
	rcpts  []string          // accepted RCPT addresses, in order
}

// Reset discards the current transaction (RSET, new EHLO, end of DATA).
func (s *session) Reset() {
	s.from, s.utf8 = "", false
	s.local, s.remote, s.rcpts = nil, nil, nil
}

// Logout ends the session.
func (s *session) Logout() error { return nil }

// Mail starts a transaction (RFC 5321 section 4.1.1.2).
func (s *session) Mail(from string, opts *gosmtp.MailOptions) error {
	s.Reset()
	utf8Mode := opts != nil && opts.UTF8
	if !utf8Mode && !isASCII(from) {
		return errNeedUTF8
	}
	if s.role == roleSubmission {
		if s.account == nil {
			return errAuthRequired
		}
		if !owns(s.account.Address, from) {
			s.log.Info("smtp: sender not owned", "account", s.account.Address, "from", from)
			return &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: fmt.Sprintf("Sender address <%s> is not yours; use %s or one of its +tags", from, s.account.Address)}
		}
	}
	if s.role == roleMX && !s.srv.cfg.MessageRate.Allow(s.remoteIP()) {
		s.log.Info("smtp: refused, too many messages from the address", "from", from)
		return errRateLimited
	}
	s.from, s.utf8 = from, utf8Mode
	return nil
}

// Rcpt adds a recipient (RFC 5321 section 4.1.1.3) after resolving it.
func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if s.role == roleSubmission && s.account == nil {
		return errAuthRequired
	}
	if !s.utf8 && !isASCII(to) {
		return errNeedUTF8
	}
	ctx, cancel := context.WithTimeout(s.srv.ctx, lookupTimeout)
	defer cancel()
	rs, err := s.srv.cfg.Directory.Resolve(ctx, to)
	switch {
	case err == nil:
	case errors.Is(err, directory.ErrNoSuchUser):
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: fmt.Sprintf("No such user <%s>", to)}
	case errors.Is(err, directory.ErrNotLocal):
		if s.account == nil || s.srv.cfg.Outbound == nil {
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Relaying denied"}
		}
		if !s.srv.cfg.SendRate.Allow(s.account.Address) {
			s.log.Info("smtp: refused, the account's sending limit is reached", "account", s.account.Address, "rcpt", to)
			return errSendLimited
		}
		s.remote = append(s.remote, spool.Recipient{Address: to})
		s.rcpts = append(s.rcpts, to)
		return nil
	case errors.Is(err, directory.ErrInvalid):
		return &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 1, 3}, Message: fmt.Sprintf("Bad recipient address syntax <%s>", to)}
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
		s.local = append(s.local, spool.Recipient{Address: to, Account: int64(r.Account.ID), Tag: r.Tag, Cell: r.Account.Cell})
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

// checkQuota refuses a recipient whose account is full (RFC 3463 code
// 4.2.2, temporary: the owner may make room). A failing lookup accepts
// the recipient: our store being down is not the sender's problem.
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
		if u.Bytes >= r.Account.Quota {
			return &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full, try again later"}
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

// limitKey is the key for the connection and login limiters.
func (s *session) limitKey() string {
	return limit.Key(s.conn.Conn().RemoteAddr())
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
	// errLocalFailure is our fault: the sender retries later.
	errLocalFailure = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem, try again later"}
)
