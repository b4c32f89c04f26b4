// Package smtp implements Casella's SMTP servers on top of go-smtp: the MX
// that receives mail for local recipients (RFC 5321), the message
// submission service on port 587 with STARTTLS and on port 465 with
// implicit TLS (RFC 6409, RFC 8314), and the outbound relay that delivers
// queued mail to a smarthost and reports failures with delivery status
// notifications (RFC 3464).
//
// Extensions offered: PIPELINING (RFC 2920), 8BITMIME (RFC 6152), SMTPUTF8
// (RFC 6531), SIZE (RFC 1870), ENHANCEDSTATUSCODES (RFC 2034, codes from
// RFC 3463), STARTTLS (RFC 3207), CHUNKING (RFC 3030) and, on submission
// after TLS, AUTH PLAIN (RFC 4616) and LOGIN (RFC 4954).
//
// Implementation notes:
//   - A message is answered 250 only after the spool's Enqueue returned
//     nil, which means it is on stable storage (DESIGN.md invariant 1).
//   - Our own failures (directory unreachable, spool full, disk full) are
//     answered with 4xx, never 5xx (DESIGN.md invariant 2); a failing
//     quota lookup accepts the recipient.
//   - Message bytes are stored exactly as received, with the Received
//     header prepended. Data with a bare CR or LF is refused, so no line
//     ending that another MTA reads differently can hide a second message
//     in the first (RFC 5321 section 2.3.8, "SMTP smuggling").
//   - Every value from the client that goes into a header (HELO name,
//     addresses) is sanitised first, so it cannot add header lines; names
//     and addresses with control characters or invalid UTF-8 are refused.
//   - Each connection gets a go-smtp server of its own, whose Debug tee
//     feeds the connection's guard (guard.go): it sees what go-smtp hides
//     from the session, a DATA line starting "." CR and a command cut off
//     by the timeout.
//   - Every refusal goes through session.refuse: logged at info with its
//     reason and counted (Config.Refused).
//   - The Server owns its listeners' connections: Shutdown stops accepting,
//     waits for sessions, then closes whatever is left.
package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/directory"
	"casella/internal/limit"
	"casella/internal/mailauth"
	"casella/internal/netaccept"
	"casella/internal/quota"
	"casella/internal/spool"
	"casella/internal/srs"
	"casella/internal/store"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultMaxMessageBytes = 50 << 20
	// DefaultMaxRecipients is the minimum RFC 5321 section 4.5.3.1.8
	// requires a server to accept.
	DefaultMaxRecipients = 100
	// DefaultCommandTimeout is the server timeout of RFC 5321 section
	// 4.5.3.2.7.
	DefaultCommandTimeout = 5 * time.Minute
	// maxLineLength doubles the 1000-octet text line limit of RFC 5321
	// section 4.5.3.1.6, as go-smtp does, for lenient senders.
	maxLineLength = 2000
	// lookupTimeout bounds each directory or quota call, so a hung
	// backend turns into a temporary reply rather than a stuck session.
	lookupTimeout = 30 * time.Second
)

// Directory is what the SMTP servers need from the directory.
type Directory interface {
	Resolve(ctx context.Context, address string) ([]directory.Recipient, error)
	Authenticate(ctx context.Context, address, password string) (directory.Account, error)
}

// Enqueuer stores a message durably; *spool.Spool implements it. Enqueue
// returns only once the message is on stable storage, and keeps no
// reference to data: the session reuses its buffer for the next message.
type Enqueuer interface {
	Enqueue(ctx context.Context, env spool.Envelope, data []byte) (string, error)
}

// Config holds a Server's dependencies and limits.
type Config struct {
	// Hostname is this server's name in greetings and Received headers.
	Hostname string
	// Directory resolves recipients and checks logins.
	Directory Directory
	// Usage, when set, is asked at RCPT for the quota usage of local
	// accounts with a quota; an error from it accepts the recipient.
	Usage func(ctx context.Context, acct store.Account) (store.Usage, error)
	// Quota holds the messages accepted for each account and not yet
	// delivered, for the quota checks; nil means one of its own with the
	// default grace. The delivery loop must share it to release them.
	Quota *quota.Tracker
	// Spool receives mail for local recipients.
	Spool Enqueuer
	// Outbound receives submitted mail for remote recipients; nil refuses
	// them.
	Outbound Enqueuer
	// SRS, when set, reverses recipients that are SRS addresses of our
	// domains (srs.go): bounces to mail a Sieve redirect forwarded.
	SRS *srs.Rewriter
	// SieveReject, when set, is asked at the end of DATA about a message
	// whose only recipient is one local account: whether that account's
	// Sieve script rejects it, and why (sievereject.go). It must answer
	// within its context's deadline and without the mailbox store; any
	// doubt answers false, and the message is accepted.
	SieveReject func(ctx context.Context, rcpt spool.Recipient, from string, msg []byte, now time.Time) (reason string, rejected bool)
	// Checks, when set, checks SPF, DKIM and DMARC of mail arriving on the
	// MX listener.
	Checks *mailauth.Checker
	// Blocklists, when set, refuses MX clients listed in a DNS blocklist.
	Blocklists *mailauth.DNSBL
	// MessageRate bounds messages per client address on the MX listener,
	// and SendRate recipients in other domains per account on
	// submission; nil allows any number.
	MessageRate, SendRate *limit.Rate
	// TLS enables STARTTLS and is required for submission.
	TLS *tls.Config
	// MaxMessageBytes limits a message's size; 0 means
	// DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// MaxRecipients limits recipients per message; 0 means
	// DefaultMaxRecipients.
	MaxRecipients int
	// Conns, when set, caps concurrent connections.
	Conns *limit.Gate
	// AuthLimit slows down failing logins; nil means one of its own with
	// the defaults.
	AuthLimit *limit.Auth
	// CheckHeaderFrom makes submission refuse a message whose From:
	// header names an address that is not the account's (checkHeaderFrom).
	CheckHeaderFrom bool
	// CommandTimeout bounds the wait for each command or data line; 0
	// means DefaultCommandTimeout.
	CommandTimeout time.Duration
	// Refused, when set, is told the reason of every refusal the sessions
	// answer (each is also logged at info); failed logins are counted by
	// AuthLimit.
	Refused func(reason string)
	// Logger receives session logs; nil means slog.Default().
	Logger *slog.Logger
}

// Server serves the MX and submission listeners.
type Server struct {
	cfg Config
	log *slog.Logger

	// ctx is the parent of every session's context; cancel aborts
	// sessions that outlive Shutdown's deadline.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closing   bool
	listeners []net.Listener
	conns     map[*trackedConn]struct{}
	drained   chan struct{} // closed when conns empties during Shutdown
}

// ErrServerClosed is returned by the Serve methods after Shutdown.
var ErrServerClosed = errors.New("smtp: server closed")

// New returns a Server for cfg, with defaults for its zero fields.
func New(cfg Config) *Server {
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.MaxRecipients <= 0 {
		cfg.MaxRecipients = DefaultMaxRecipients
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = DefaultCommandTimeout
	}
	if cfg.AuthLimit == nil {
		cfg.AuthLimit = limit.NewAuth(limit.AuthOptions{Logger: cfg.Logger})
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Quota == nil {
		cfg.Quota = quota.NewTracker(quota.DefaultGrace)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		ctx:    ctx,
		cancel: cancel,
		conns:  map[*trackedConn]struct{}{},
	}
}

// ServeMX serves inbound mail for local recipients on l until Shutdown.
func (s *Server) ServeMX(l net.Listener) error {
	return s.serve(roleMX, &limitListener{Listener: l, srv: s, reply: true})
}

// ServeSubmission serves message submission with STARTTLS on l (port
// 587); AUTH is possible only after STARTTLS.
func (s *Server) ServeSubmission(l net.Listener) error {
	if s.cfg.TLS == nil {
		return errors.New("smtp: submission needs a TLS configuration")
	}
	return s.serve(roleSubmission, &limitListener{Listener: l, srv: s, reply: true, record: true})
}

// ServeSubmissions serves message submission over implicit TLS on l
// (port 465, RFC 8314 section 3.3).
func (s *Server) ServeSubmissions(l net.Listener) error {
	if s.cfg.TLS == nil {
		return errors.New("smtp: submission needs a TLS configuration")
	}
	// The limit sits below TLS: a refused client is closed before any
	// handshake, as a cleartext 421 would not be understood.
	return s.serve(roleSubmission, tls.NewListener(&limitListener{Listener: l, srv: s, record: true}, s.cfg.TLS))
}

func (s *Server) serve(r role, l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()

	closing := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.closing
	}
	err := netaccept.Loop(l, closing, s.log, func(c net.Conn) { go s.serveConn(r, c) })
	if err != nil {
		return fmt.Errorf("smtp: serving %s: %w", l.Addr(), err)
	}
	return nil
}

// serveConn runs one connection's session with a go-smtp server of its
// own, whose Debug tee feeds the connection's guard.
func (s *Server) serveConn(r role, c net.Conn) {
	g := &connGuard{}
	raw := c
	if tc, ok := c.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tc, ok := raw.(*trackedConn); ok {
		tc.guard = g
	}
	gs := gosmtp.NewServer(&backend{srv: s, role: r, guard: g})
	gs.Domain = s.cfg.Hostname
	gs.TLSConfig = s.cfg.TLS
	gs.MaxMessageBytes = s.cfg.MaxMessageBytes
	gs.MaxRecipients = s.cfg.MaxRecipients
	gs.MaxLineLength = maxLineLength
	gs.ReadTimeout = s.cfg.CommandTimeout
	gs.WriteTimeout = s.cfg.CommandTimeout
	gs.EnableSMTPUTF8 = true
	gs.EnableREQUIRETLS = true // advertised over TLS only (RFC 8689 section 4.1)
	gs.ErrorLog = errorLog{s.log}
	gs.Debug = g
	// The session refuses AUTH itself before TLS, with the RFC 4954
	// reply and without advertising it; go-smtp would otherwise answer
	// 523 on its own.
	gs.AllowInsecureAuth = r == roleSubmission
	// Serve returns errServed at once; the session runs on in go-smtp's
	// goroutine, and Shutdown waits for its connection.
	gs.Serve(&oneConn{c: c})
}

// Shutdown stops accepting connections and waits for open sessions to end
// until ctx is done; then it closes the remaining connections and returns
// ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.closing = true
	for _, l := range s.listeners {
		l.Close()
	}
	if len(s.conns) == 0 {
		s.drained = nil
	} else {
		s.drained = make(chan struct{})
	}
	drained := s.drained
	s.mu.Unlock()

	if drained != nil {
		select {
		case <-drained:
		case <-ctx.Done():
			s.cancel()
			s.mu.Lock()
			for c := range s.conns {
				c.Conn.Close()
			}
			s.mu.Unlock()
			return ctx.Err()
		}
	}
	s.cancel()
	return nil
}

// errorLog passes go-smtp's internal messages (mostly broken
// connections) to slog.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Printf(format string, v ...any) {
	e.log.Info("smtp: " + fmt.Sprintf(format, v...))
}

func (e errorLog) Println(v ...any) {
	e.log.Info("smtp: " + fmt.Sprint(v...))
}
