// Package managesieve implements a ManageSieve server (RFC 5804): users
// upload, check, list, activate, rename and delete their Sieve scripts.
// It offers STARTTLS (section 2.2) and SASL PLAIN (RFC 4616) and every
// command of the RFC, CHECKSCRIPT, RENAMESCRIPT, NOOP and UNAUTHENTICATE
// included.
//
// Implementation notes:
//   - A script is compiled (package sieve) before it is stored: PUTSCRIPT
//     never stores a script that does not compile, and its error names
//     the line and column.
//   - Scripts are kept by a directory.SieveScripts, per account; the
//     protocol package sees only that interface.
//   - Passwords are accepted only over TLS, or from loopback clients when
//     AllowPlainLoopback is set; failed logins go through the shared login
//     throttle (limit.Auth), keyed by the client's address.
//   - After STARTTLS, input sent before the handshake ends the session, so
//     that plaintext cannot be injected into the protected session
//     (CVE-2011-0411).
//   - Lines and literals are bounded: a literal larger than MaxScriptSize
//     is refused before it is read.
package managesieve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"casella/internal/directory"
	"casella/internal/limit"
	"casella/internal/netaccept"
)

// Defaults of the Server's limits.
const (
	DefaultMaxScriptSize  = 256 << 10
	DefaultMaxScripts     = 20
	DefaultIdleTimeout    = 30 * time.Minute
	DefaultCommandTimeout = 30 * time.Second
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("managesieve: server closed")

// Authenticator checks logins; directory.Directory implements it. It
// returns an error wrapping directory.ErrBadCredentials for a wrong address
// or password; any other error is a temporary failure.
type Authenticator interface {
	Authenticate(ctx context.Context, address, password string) (directory.Account, error)
}

// Server is a ManageSieve server. Set its fields, then call Serve for each
// listener. A Server must not be copied after first use.
type Server struct {
	Auth     Authenticator
	Scripts  directory.SieveScripts
	TLS      *tls.Config // for STARTTLS; nil disables it
	Hostname string
	Logger   *slog.Logger

	AuthLimit *limit.Auth // slows down failing clients; nil for none
	Conns     *limit.Gate // caps on connections; nil for none

	// AllowPlainLoopback allows AUTHENTICATE without TLS from loopback
	// clients, for development.
	AllowPlainLoopback bool

	MaxScriptSize  int64         // DefaultMaxScriptSize when 0
	MaxScripts     int           // per account; DefaultMaxScripts when 0
	MaxRedirects   int           // announced as MAXREDIRECTS; 0 announces none
	IdleTimeout    time.Duration // DefaultIdleTimeout when 0
	CommandTimeout time.Duration // DefaultCommandTimeout when 0

	mu        sync.Mutex
	listeners map[net.Listener]bool
	conns     map[net.Conn]bool
	closing   atomic.Bool
	wg        sync.WaitGroup
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) maxScriptSize() int64 {
	if s.MaxScriptSize <= 0 {
		return DefaultMaxScriptSize
	}
	return s.MaxScriptSize
}

func (s *Server) maxScripts() int {
	if s.MaxScripts <= 0 {
		return DefaultMaxScripts
	}
	return s.MaxScripts
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout <= 0 {
		return DefaultIdleTimeout
	}
	return s.IdleTimeout
}

func (s *Server) commandTimeout() time.Duration {
	if s.CommandTimeout <= 0 {
		return DefaultCommandTimeout
	}
	return s.CommandTimeout
}

// Serve accepts connections on l until Shutdown, serving each in its own
// goroutine. It returns ErrServerClosed after Shutdown and closes l.
func (s *Server) Serve(l net.Listener) error {
	if s.Auth == nil || s.Scripts == nil {
		l.Close()
		return errors.New("managesieve: Server needs Auth and Scripts")
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners, s.conns = map[net.Listener]bool{}, map[net.Conn]bool{}
	}
	s.listeners[l] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	err := netaccept.Loop(l, s.closing.Load, s.logger(), func(conn net.Conn) {
		s.mu.Lock()
		s.conns[conn] = true
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, conn)
				s.mu.Unlock()
			}()
			s.serveConn(conn)
		})
	})
	if err != nil {
		return fmt.Errorf("managesieve: accept: %w", err)
	}
	return ErrServerClosed
}

// Shutdown stops accepting connections and closes the open ones: a
// ManageSieve command changes at most one row, in one transaction, so
// cutting a session loses nothing. It waits for the sessions to end or
// ctx to be done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.mu.Lock()
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("managesieve: shutdown: %w", ctx.Err())
	}
}
