package smtp

import (
	"context"
	"errors"
	"fmt"

	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/directory"
	"casella/internal/spool"
	"casella/internal/srs"
)

// rcptSRS takes a recipient that is an SRS address of one of our domains
// (package srs): a bounce, or a reply, to mail we forwarded. A valid one
// is accepted for the address it encodes, the original sender, and
// relayed there; what we did not make is refused with 550, as a
// forwarder that relayed anything to any SRS-shaped address would be an
// open relay. handled is false when to is not ours to reverse.
func (s *session) rcptSRS(ctx context.Context, to string) (next string, handled bool, err error) {
	// Ours when its domain is, even if a catch-all would take it.
	_, lerr := s.srv.cfg.Directory.Resolve(ctx, to)
	switch {
	case errors.Is(lerr, directory.ErrNotLocal), errors.Is(lerr, directory.ErrInvalid):
		return "", false, nil
	case lerr != nil && !errors.Is(lerr, directory.ErrNoSuchUser):
		s.log.Warn("smtp: resolving an SRS recipient", "rcpt", to, "err", lerr)
		return "", true, errLocalFailure
	}
	orig, rerr := s.srv.cfg.SRS.Reverse(to)
	if rerr != nil {
		why := "it was not made here"
		switch {
		case errors.Is(rerr, srs.ErrExpired):
			why = "it has expired; bounces are taken for 21 days"
		case errors.Is(rerr, srs.ErrInvalid):
			why = "it is malformed"
		}
		return "", true, s.refuse("srs_invalid", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1},
			Message: fmt.Sprintf("Invalid SRS address <%s>: %s", to, why)}, "rcpt", to, "err", rerr)
	}
	s.log.Info("smtp: SRS address reversed", "rcpt", to, "to", orig)
	return orig, true, nil
}

// addSRSRemote adds the original sender of a reversed SRS address, in
// another domain, as a relayed recipient.
func (s *session) addSRSRemote(to, orig string) error {
	if s.srv.cfg.Outbound == nil {
		return s.refuse("relay", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Relaying denied"}, "rcpt", to)
	}
	s.remote = append(s.remote, spool.Recipient{Address: orig})
	s.rcpts = append(s.rcpts, to)
	return nil
}
