package smtp

import (
	"crypto/tls"
	"io"
	"net"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/sessionlog"
)

// sessionRecord finds the record of the connection under c, which may be
// wrapped in TLS; nil when the listener keeps none.
func sessionRecord(c net.Conn) *sessionlog.Session {
	for {
		switch t := c.(type) {
		case *trackedConn:
			return t.record
		case *tls.Conn:
			c = t.NetConn()
		default:
			return nil
		}
	}
}

// recordedSession is a submission session whose commands go-smtp hands to
// Casella (AUTH, MAIL, RCPT, DATA) are counted, and whose login is logged,
// for the lines of package sessionlog. EHLO, NOOP and the like are
// answered by go-smtp and not counted.
type recordedSession struct {
	*submissionSession
	record *sessionlog.Session
}

func (s recordedSession) Mail(from string, opts *gosmtp.MailOptions) error {
	s.record.Command()
	return s.submissionSession.Mail(from, opts)
}

func (s recordedSession) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	s.record.Command()
	return s.submissionSession.Rcpt(to, opts)
}

func (s recordedSession) Data(r io.Reader) error {
	s.record.Command()
	return s.submissionSession.Data(r)
}

func (s recordedSession) Auth(mech string) (sasl.Server, error) {
	s.record.Command()
	srv, err := s.submissionSession.Auth(mech)
	if err != nil {
		return nil, err
	}
	return loggedLogin{srv, s, mech}, nil
}

// loggedLogin logs the login that ends a successful SASL exchange.
type loggedLogin struct {
	sasl.Server
	s    recordedSession
	mech string
}

func (l loggedLogin) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := l.Server.Next(response)
	if done && err == nil && l.s.account != nil {
		_, isTLS := l.s.conn.TLSConnectionState()
		l.s.record.Login(l.s.account.Address, l.mech, isTLS)
	}
	return challenge, done, err
}
