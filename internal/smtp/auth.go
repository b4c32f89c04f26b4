package smtp

import (
	"context"
	"errors"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/directory"
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
)

// authenticate checks a login, slowing down clients that keep failing.
func (s *submissionSession) authenticate(username, password string) error {
	key := s.limitKey()
	ctx, cancel := context.WithTimeout(s.srv.ctx, lookupTimeout)
	defer cancel()
	if err := s.srv.cfg.AuthLimit.Wait(s.srv.ctx, key); err != nil {
		return errAuthTempFail
	}
	acct, err := s.srv.cfg.Directory.Authenticate(ctx, username, password)
	switch {
	case errors.Is(err, directory.ErrBadCredentials), errors.Is(err, directory.ErrInvalid):
		s.srv.cfg.AuthLimit.Failure(key)
		s.log.Info("smtp: authentication failed", "user", username)
		return errAuthFailed
	case err != nil:
		s.log.Warn("smtp: authentication unavailable", "user", username, "err", err)
		return errAuthTempFail
	}
	s.srv.cfg.AuthLimit.Success(key)
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
