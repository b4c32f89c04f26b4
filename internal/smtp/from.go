package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/mail"

	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/directory"
)

// checkHeaderFrom refuses a submitted message whose From: header field
// (RFC 5322 section 3.6.2) names an address the account may not send as:
// its own, a subaddress of it, or an address that delivers to it (an
// alias). RFC 6409 section 8 lets a submission server check the
// originator fields; without the check an account could sign mail with
// another's name. A message without From: names nobody and passes.
func (s *session) checkHeaderFrom(msg []byte) error {
	if s.role != roleSubmission || !s.srv.cfg.CheckHeaderFrom || s.account == nil {
		return nil
	}
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		return s.refuse("bad_header", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: "Malformed message header"}, "err", err)
	}
	ctx, cancel := context.WithTimeout(s.srv.ctx, lookupTimeout)
	defer cancel()
	for _, field := range m.Header["From"] {
		list, err := mail.ParseAddressList(field)
		if err != nil {
			return s.refuse("bad_header", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: "Malformed From: header field"}, "from", field, "err", err)
		}
		for _, a := range list {
			ok, err := s.mayUse(ctx, a.Address)
			if err != nil {
				s.log.Warn("smtp: checking From: header", "from", a.Address, "err", err)
				return errLocalFailure
			}
			if !ok {
				return s.refuse("header_from_not_owned", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1},
					Message: fmt.Sprintf("From: <%s> is not yours; use %s, one of its +tags or an alias that delivers to it", a.Address, s.account.Address)},
					"account", s.account.Address, "from", a.Address)
			}
		}
	}
	return nil
}

// mayUse reports whether the account may write addr in From:.
func (s *session) mayUse(ctx context.Context, addr string) (bool, error) {
	if owns(s.account.Address, addr) {
		return true, nil
	}
	rs, err := s.srv.cfg.Directory.Resolve(ctx, addr)
	switch {
	case errors.Is(err, directory.ErrNoSuchUser), errors.Is(err, directory.ErrNotLocal), errors.Is(err, directory.ErrInvalid):
		return false, nil
	case err != nil:
		return false, err
	}
	for _, r := range rs {
		if r.Account.ID == s.account.ID {
			return true, nil
		}
	}
	return false, nil
}
