// Package pop3 implements a POP3 server (RFC 1939) with the extension
// mechanism of RFC 2449 (CAPA, RESP-CODES, AUTH-RESP-CODE of RFC 3206,
// PIPELINING, UIDL, TOP, USER, IMPLEMENTATION), STLS (RFC 2595) and SASL
// PLAIN authentication (RFC 5034, RFC 4616). It serves each account's
// INBOX from the mailbox store and the blob store.
//
// Implementation notes:
//   - The maildrop is a snapshot of INBOX taken at login: message numbers
//     and sizes are fixed for the session (RFC 1939 section 6), whatever
//     IMAP or delivery do meanwhile. UIDL is "<uidvalidity>.<uid>", unique
//     and stable.
//   - One POP3 session per account at a time: the exclusive maildrop lock of
//     RFC 1939 section 8 lives in Server, in process; a second login gets
//     -ERR [IN-USE].
//   - Only QUIT in the TRANSACTION state changes the store: it sets \Deleted
//     on the messages marked with DELE and expunges exactly those UIDs
//     (RFC 1939 section 6). A dropped connection changes nothing.
//   - Every store or blob call runs under a context with CommandTimeout. A
//     failure answers -ERR [SYS/TEMP] at once and the session keeps
//     working: a storage failure never hangs or kills a session.
//   - After STLS, input the client sent before the TLS handshake is
//     discarded, so that plaintext cannot be injected into the protected
//     session (RFC 2595 section 4, CVE-2011-0411).
//   - Passwords are accepted only over TLS, or from loopback clients when
//     AllowPlainLoopback is set.
package pop3

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

	"casella/internal/blob"
	"casella/internal/directory"
	"casella/internal/limit"
	"casella/internal/netaccept"
	"casella/internal/store"
)

// Defaults for the Server's timeouts.
const (
	// DefaultIdleTimeout is RFC 1939 section 3's minimum autologout timer.
	DefaultIdleTimeout    = 10 * time.Minute
	DefaultCommandTimeout = 30 * time.Second
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("pop3: server closed")

// Authenticator checks logins; directory.Directory implements it. It
// returns an error wrapping directory.ErrBadCredentials for a wrong address
// or password; any other error is a temporary failure.
type Authenticator interface {
	Authenticate(ctx context.Context, address, password string) (directory.Account, error)
}

// Server is a POP3 server. Set its fields, then call Serve for each
// listener. A Server must not be copied after first use.
type Server struct {
	Store    store.Store
	Blobs    blob.Store
	Auth     Authenticator
	TLS      *tls.Config // for STLS and implicit TLS; nil disables both
	Hostname string      // in the greeting
	Logger   *slog.Logger

	// BlobsOf, when set, returns the blob store of an account's messages
	// (its cell's, in a cluster) at login, and Blobs is not used.
	BlobsOf func(ctx context.Context, acct directory.Account) (blob.Store, error)

	AuthLimit *limit.Auth // slows down failing clients; nil for none
	Conns     *limit.Gate // caps on connections; nil for none

	// AllowPlainLoopback allows USER/PASS and AUTH without TLS from
	// loopback clients, for development.
	AllowPlainLoopback bool

	IdleTimeout    time.Duration // DefaultIdleTimeout when 0
	CommandTimeout time.Duration // DefaultCommandTimeout when 0

	initOnce  sync.Once
	mu        sync.Mutex
	listeners map[net.Listener]bool
	sessions  map[*session]bool
	locks     map[store.Account]bool // maildrop locks, under mu
	closing   atomic.Bool
	wg        sync.WaitGroup
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		s.listeners = map[net.Listener]bool{}
		s.sessions = map[*session]bool{}
		s.locks = map[store.Account]bool{}
	})
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
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
// goroutine. With implicitTLS (port 995, RFC 8314) every connection starts
// with a TLS handshake. Serve returns ErrServerClosed after Shutdown and
// closes l when it returns.
func (s *Server) Serve(l net.Listener, implicitTLS bool) error {
	s.init()
	if s.Store == nil || s.Blobs == nil && s.BlobsOf == nil || s.Auth == nil {
		l.Close()
		return errors.New("pop3: Server needs Store, Blobs and Auth")
	}
	if implicitTLS && s.TLS == nil {
		l.Close()
		return errors.New("pop3: implicit TLS needs a TLS configuration")
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
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
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(conn, implicitTLS)
		}()
	})
	if err != nil {
		return fmt.Errorf("pop3: accept: %w", err)
	}
	return ErrServerClosed
}

// Shutdown stops accepting connections, ends sessions that wait for a
// command (without applying their deletions, as RFC 1939 wants for a
// session that did not QUIT), and waits for sessions in a command to
// finish. When ctx ends first, it closes the remaining connections and
// returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.closing.Store(true)
	s.mu.Lock()
	for l := range s.listeners {
		l.Close()
	}
	sessions := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	for _, ss := range sessions {
		ss.interrupt()
	}

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for ss := range s.sessions {
			ss.abort()
		}
		s.mu.Unlock()
		<-done
		return fmt.Errorf("pop3: shutdown: %w", ctx.Err())
	}
}

// lockMaildrop takes the account's exclusive maildrop lock (RFC 1939
// section 8). It returns false when another session holds it.
func (s *Server) lockMaildrop(acct store.Account) (unlock func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locks[acct] {
		return nil, false
	}
	s.locks[acct] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			delete(s.locks, acct)
		})
	}, true
}
