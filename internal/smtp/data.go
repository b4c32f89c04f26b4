package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/mailauth"
	"casella/internal/spool"
)

// Data receives the message (DATA or BDAT), prepends the Received header
// and enqueues it. The reply carries the spool id and is sent only after
// Enqueue returned: the message is durable then.
func (s *session) Data(r io.Reader) error {
	if s.expired() {
		return errTimeout
	}
	// The header goes first and the message is read in behind it, in a
	// buffer that served earlier messages. A new one per message, grown as
	// the message came in and then copied behind the header, allocated
	// three times the message's size: under SMTP load, nearly half of all
	// the server allocated.
	now := time.Now()
	buf := messageBuffers.Get().(*bytes.Buffer)
	defer putMessageBuffer(buf)
	hdr := s.received(now)
	buf.Write(hdr)
	// go-smtp bounds DATA by MaxMessageBytes and BDAT by the chunk sizes
	// it announced; this bound catches anything beyond both.
	n, err := buf.ReadFrom(io.LimitReader(r, s.srv.cfg.MaxMessageBytes+1))
	if err != nil {
		var se *gosmtp.SMTPError
		if errors.As(err, &se) {
			return s.refuse("size", se)
		}
		// The client went away or timed out mid-message.
		s.log.Info("smtp: reading message", "err", err)
		return errLocalFailure
	}
	if n > s.srv.cfg.MaxMessageBytes {
		return s.refuse("size", gosmtp.ErrDataTooLarge)
	}
	msg := buf.Bytes()
	err = checkLineEndings(msg[len(hdr):])
	if s.guard != nil && s.guard.takeBareCR() {
		err = errors.New(`bare CR after a dot at the start of a line ("\r\n.\r")`)
	}
	if err != nil {
		// Postfix's smtpd_forbid_bare_newline answers the same way.
		return s.refuse("bare_cr", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 5, 2}, Message: "Bare CR or LF not allowed; end lines with CRLF (RFC 5321 section 2.3.8)"}, "err", err)
	}
	if err := s.checkHeaderFrom(msg[len(hdr):]); err != nil {
		return err
	}

	if s.role == roleMX && s.srv.cfg.Checks != nil {
		checked, err := s.check(msg[len(hdr):])
		if err != nil {
			return err
		}
		msg = append(hdr, checked...)
	}

	if err := s.sieveReject(msg, now); err != nil {
		return err
	}
	release, err := s.reserveQuota(msg)
	if err != nil {
		return err
	}
	auth := ""
	if s.account != nil {
		auth = s.account.Address
	}
	var ids []string
	for _, q := range []struct {
		to    Enqueuer
		rcpts []spool.Recipient
	}{{s.srv.cfg.Spool, s.local}, {s.srv.cfg.Outbound, s.remote}} {
		if len(q.rcpts) == 0 {
			continue
		}
		env := spool.Envelope{From: s.from, Recipients: q.rcpts, Received: now, Auth: auth, RequireTLS: s.requireTLS}
		id, err := s.enqueue(q.to, env, msg)
		if err != nil {
			if len(ids) == 0 {
				release()
			}
			return err
		}
		ids = append(ids, id)
	}
	s.log.Info("smtp: message accepted", "from", s.from, "rcpts", len(s.rcpts), "size", len(msg), "ids", ids)
	return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "Queued as " + strings.Join(ids, " ")}
}

// checkTimeout bounds the SPF, DKIM and DMARC lookups of one message.
const checkTimeout = 20 * time.Second

// check runs the sender checks on a message from the Internet: a DMARC
// policy of reject that fails is refused here, for the moment when a
// temporary DNS failure leaves it unsure, one of quarantine files the
// message to Junk, and the message gets its Authentication-Results.
func (s *session) check(msg []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(s.srv.ctx, checkTimeout)
	defer cancel()
	v := s.srv.cfg.Checks.Check(ctx, net.ParseIP(s.remoteIP()), s.conn.Hostname(), s.from, msg)
	switch v.Action {
	case mailauth.Reject:
		return nil, s.refuse("dmarc", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: v.Reason + " (RFC 7489)"},
			"from", s.from, "why", v.Reason, "results", strings.TrimSpace(v.Header))
	case mailauth.Defer:
		// RFC 3463 section 3.8, X.7.5: a key needed to check the message
		// was not available.
		return nil, s.refuse("dmarc_temperror", &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 5}, Message: v.Reason},
			"from", s.from, "why", v.Reason, "results", strings.TrimSpace(v.Header))
	case mailauth.Quarantine:
		s.log.Info("smtp: filed to Junk by the author domain's DMARC policy", "from", s.from, "reason", v.Reason)
		for i := range s.local {
			s.local[i].Junk = true
		}
	}
	return mailauth.Stamp(msg, v, s.srv.cfg.Hostname), nil
}

// checkBlocklists refuses a client that a DNS blocklist lists, at its
// EHLO (RFC 5782); a blocklist that does not answer refuses nobody.
func (s *session) checkBlocklists() error {
	ip, err := netip.ParseAddr(s.remoteIP())
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.srv.ctx, checkTimeout)
	defer cancel()
	zone, listed, err := s.srv.cfg.Blocklists.Listed(ctx, ip)
	if err != nil {
		s.log.Warn("smtp: blocklist lookup failed; the client is let in", "err", err)
	}
	if !listed {
		return nil
	}
	return s.refuse("blocklist", &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1},
		Message: fmt.Sprintf("Service unavailable; client [%s] blocked using %s", ip, zone)}, "zone", zone)
}

// messageBuffers holds the buffers that sessions receive messages into.
var messageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer bounds the buffers kept for reuse: the buffer of a rare
// large message goes back to the garbage collector, not to the pool.
const maxPooledBuffer = 1 << 20

func putMessageBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuffer {
		return
	}
	b.Reset()
	messageBuffers.Put(b)
}

// enqueue stores one envelope, turning every failure into a temporary
// reply (DESIGN.md invariant 2).
func (s *session) enqueue(q Enqueuer, env spool.Envelope, msg []byte) (string, error) {
	ctx, cancel := context.WithTimeout(s.srv.ctx, s.srv.cfg.CommandTimeout)
	defer cancel()
	id, err := q.Enqueue(ctx, env, msg)
	if err == nil {
		return id, nil
	}
	s.log.Error("smtp: enqueue failed", "err", err)
	if errors.Is(err, spool.ErrFull) || errors.Is(err, syscall.ENOSPC) {
		return "", errStorageFull
	}
	return "", errLocalFailure
}

// Rate refusals are temporary (RFC 3463 code 4.7.0, security or policy
// status): the client may send later.
var (
	errRateLimited = &gosmtp.SMTPError{Code: 450, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Too many messages from your address; try again later"}
	errSendLimited = &gosmtp.SMTPError{Code: 450, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Your account's sending limit is reached; try again in an hour"}
)

// errStorageFull is RFC 3463 code 4.3.1, mail system full.
var errStorageFull = &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage, try again later"}

// checkLineEndings returns an error if data has a CR not followed by LF or
// an LF not preceded by CR. go-smtp ends DATA only at CRLF.CRLF, but an MTA
// that later relays the message may take a bare LF for a line end, and
// "LF.LF" or "CRLF.LF" would then end the message early and start another
// (RFC 5321 section 2.3.8).
//
// It goes line by line with bytes.IndexByte, which uses vector
// instructions: a loop over every byte took 1.3% of the server's CPU under
// SMTP load.
func checkLineEndings(data []byte) error {
	for off := 0; off < len(data); {
		line := data[off:]
		end := bytes.IndexByte(line, '\n')
		if end >= 0 {
			line = line[:end]
		}
		// The only CR a line may hold is the last byte before its LF.
		if cr := bytes.IndexByte(line, '\r'); cr >= 0 && (end < 0 || cr != end-1) {
			return fmt.Errorf("bare CR at offset %d", off+cr)
		}
		if end < 0 {
			return nil
		}
		if end == 0 || line[end-1] != '\r' {
			return fmt.Errorf("bare LF at offset %d", off+end)
		}
		off += end + 1
	}
	return nil
}
