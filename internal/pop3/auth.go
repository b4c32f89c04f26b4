package pop3

import (
	"bufio"
	"crypto/tls"
	"errors"
	"strings"
	"time"

	"casella/internal/directory"
	"casella/internal/limit"
	"casella/internal/saslplain"
)

const needTLS = "-ERR sending a password requires TLS: use STLS first, or port 995"

func (ss *session) cmdUser(c command) error {
	if !ss.plainAllowed() {
		ss.reply(needTLS)
		return nil
	}
	if strings.TrimSpace(c.arg) == "" {
		ss.reply("-ERR USER needs a user name")
		return nil
	}
	ss.user = strings.TrimSpace(c.arg)
	ss.reply("+OK send PASS")
	return nil
}

func (ss *session) cmdPass(c command) error {
	if !ss.plainAllowed() {
		ss.reply(needTLS)
		return nil
	}
	if ss.user == "" {
		ss.reply("-ERR send USER first")
		return nil
	}
	user := ss.user
	ss.user = ""
	return ss.login(user, c.arg)
}

// cmdAuth runs SASL authentication (RFC 5034). Only PLAIN is offered: the
// password travels inside TLS, as with USER and PASS. AUTH without a
// mechanism lists the mechanisms, as older clients expect.
func (ss *session) cmdAuth(c command) error {
	args := c.args()
	if len(args) == 0 {
		ss.reply("+OK")
		if ss.plainAllowed() {
			ss.reply("PLAIN")
		}
		ss.reply(".")
		return nil
	}
	if !ss.plainAllowed() {
		ss.reply(needTLS)
		return nil
	}
	if !strings.EqualFold(args[0], "PLAIN") || len(args) > 2 {
		ss.reply("-ERR unsupported mechanism; use PLAIN")
		return nil
	}
	var resp string
	if len(args) == 2 {
		// "=" is an empty initial response (RFC 5034 section 4).
		resp = strings.TrimPrefix(args[1], "=")
	} else {
		ss.reply("+ ")
		line, err := ss.readLine()
		if errors.Is(err, errLineTooLong) {
			ss.reply("-ERR line too long (at most %d octets)", maxLine)
			return nil
		}
		if err != nil {
			return err
		}
		resp = strings.TrimRight(string(line), "\r\n")
		if resp == "*" {
			ss.reply("-ERR authentication canceled")
			return nil
		}
	}
	user, pass, err := saslplain.Credentials(resp)
	if errors.Is(err, saslplain.ErrBase64) {
		ss.reply("-ERR invalid base64 in authentication response")
		return nil
	} else if err != nil {
		ss.reply("-ERR [AUTH] malformed PLAIN response or unsupported authorization identity")
		return nil
	}
	return ss.login(user, pass)
}

// login checks a password and opens the maildrop: the lock, then the
// snapshot of INBOX. Failures leave the session in AUTHORIZATION state.
func (ss *session) login(address, password string) error {
	s := ss.s
	var at *limit.Attempt
	if s.AuthLimit != nil {
		var err error
		if at, err = s.AuthLimit.Admit(ss.ctx, "pop3", address, ss.conn.RemoteAddr()); err != nil {
			ss.reply("-ERR [SYS/TEMP] too many failed logins, try again later")
			return nil
		}
	}
	ctx, cancel := ss.commandContext()
	defer cancel()
	acct, err := s.Auth.Authenticate(ctx, address, password)
	if errors.Is(err, directory.ErrBadCredentials) {
		if at != nil {
			at.Failed()
		} else {
			ss.log.Info("pop3 login failed", "address", address)
		}
		ss.failures++
		ss.reply("-ERR [AUTH] invalid user name or password")
		if ss.failures >= maxAuthFailures {
			return errClose
		}
		return nil
	}
	if err != nil {
		if at != nil {
			at.Unchecked()
		}
		ss.log.Warn("pop3 authentication unavailable", "address", address, "err", err)
		ss.reply("-ERR [SYS/TEMP] authentication temporarily unavailable, try again later")
		return nil
	}
	if at != nil {
		at.Succeeded()
	}
	blobs := s.Blobs
	if s.BlobsOf != nil {
		if blobs, err = s.BlobsOf(ctx, acct); err != nil {
			ss.acct = acct
			ss.tempFailure("finding the account's blob store", err)
			return nil
		}
	}
	unlock, ok := s.lockMaildrop(acct.ID)
	if !ok {
		ss.reply("-ERR [IN-USE] maildrop already in use by another POP3 session")
		return nil
	}
	drop, err := loadMaildrop(ctx, s.Store, acct.ID)
	if err != nil {
		unlock()
		ss.acct = acct
		ss.tempFailure("opening maildrop", err)
		return nil
	}
	ss.acct, ss.drop, ss.unlock, ss.blobs = acct, drop, unlock, blobs
	ss.state = stateTransaction
	ss.log = ss.log.With("account", acct.Address)
	ss.log.Info("pop3 login", "messages", len(drop.msgs))
	n, size := drop.stat()
	ss.reply("+OK maildrop has %d messages (%d octets)", n, size)
	return nil
}

// cmdStls starts TLS (RFC 2595 section 4). Input buffered before the
// handshake is dropped with the old reader.
func (ss *session) cmdStls(command) error {
	if ss.s.TLS == nil {
		ss.reply("-ERR TLS is not available")
		return nil
	}
	if ss.isTLS {
		ss.reply("-ERR TLS is already active")
		return nil
	}
	ss.reply("+OK begin TLS negotiation")
	ss.conn.SetWriteDeadline(time.Now().Add(ss.s.idleTimeout()))
	if err := ss.bw.Flush(); err != nil {
		return err
	}
	tc := tls.Server(ss.conn, ss.s.TLS)
	ss.conn.SetDeadline(time.Now().Add(ss.s.commandTimeout()))
	if err := tc.Handshake(); err != nil {
		ss.log.Info("pop3 STLS handshake failed", "err", err)
		return errClose
	}
	ss.conn.SetDeadline(time.Time{})
	ss.mu.Lock()
	ss.conn = tc
	ss.mu.Unlock()
	ss.br = bufio.NewReaderSize(tc, maxLine+24)
	ss.bw = bufio.NewWriter(tc)
	ss.isTLS = true
	ss.user = ""
	return nil
}
