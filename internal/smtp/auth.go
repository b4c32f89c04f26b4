package smtp

import (
	"context"
	"errors"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/directory"
	"casella/internal/limit"
)

// submissionSession adds AUTH (RFC 4954) to a session on the submission
// ports.
type submissionSession struct {
	*session
}

// errEncryptionRequired is RFC 4954 section 6's reply to AUTH before TLS.
var errEncryptionRequired = &gosmtp.SMTPError{Code: 538, EnhancedCode: gosmtp.EnhancedCode{5, 7, 11}, Message: "Encryption required: use STARTTLS first"}

// AuthMechanisms lists the mechanisms offered: none before TLS, so the
// EHLO reply does not advertise AUTH on a cleartext connection.
func (s *submissionSession) AuthMechanisms() []string {
	if _, ok := s.conn.TLSConnectionState(); !ok {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth starts a SASL exchange for mech.
func (s *submissionSession) Auth(mech string) (sasl.Server, error) {
	if s.expired() {
		return nil, errTimeout
	}
	if _, ok := s.conn.TLSConnectionState(); !ok {
		return nil, errEncryptionRequired
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			// Acting for another user (an authorization identity
			// other than the login) is not offered.
			if identity != "" && identity != username {
				return errAuthFailed
			}
			return s.authenticate(username, password)
		}), nil
	case sasl.Login:
		return &loginServer{auth: s.authenticate}, nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

var (
	errAuthFailed   = &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
	errAuthTempFail = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure, try again later"}
	errAuthLocked   = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Account locked after too many failed logins; try again later or ask your administrator"}
)

// authenticate checks a login. The throttle's wait comes before the
// check and the lookup's own timeout starts after it, so a good password
// is never answered 454 because the client had to wait.
func (s *submissionSession) authenticate(username, password string) error {
	at, err := s.srv.cfg.AuthLimit.Admit(s.srv.ctx, "smtp", username, s.conn.Conn().RemoteAddr())
	if errors.Is(err, limit.ErrLocked) {
		return errAuthLocked
	}
	if err != nil {
		return errAuthTempFail
	}
	ctx, cancel := context.WithTimeout(s.srv.ctx, lookupTimeout)
	defer cancel()
	acct, err := s.srv.cfg.Directory.Authenticate(ctx, username, password)
	switch {
	case errors.Is(err, directory.ErrBadCredentials), errors.Is(err, directory.ErrInvalid):
		at.Failed()
		return errAuthFailed
	case err != nil:
		at.Unchecked()
		s.log.Warn("smtp: authentication unavailable", "user", username, "err", err)
		return errAuthTempFail
	}
	at.Succeeded()
	s.account = &acct
	s.log = s.log.With("account", acct.Address)
	s.log.Info("smtp: authenticated")
	return nil
}

// loginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login): it asks for the user name, then the
// password. A user name may come as the initial response.
type loginServer struct {
	auth     func(username, password string) error
	step     int
	username string
}

// Next implements sasl.Server.
func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		l.username = string(response)
		l.step = 2
		return []byte("Password:"), false, nil
	case 1:
		l.username = string(response)
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.auth(l.username, string(response))
	}
	return nil, false, errors.New("unexpected LOGIN response")
}
