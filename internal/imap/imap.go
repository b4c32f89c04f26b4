// Package imap implements Casella's IMAP server: IMAP4rev1 (RFC 3501) and,
// once a client sends ENABLE IMAP4rev2, IMAP4rev2 (RFC 9051), whose text
// the comments cite, with the extensions listed in commands.go.
//
// Casella has its own server rather than emersion/go-imap v2's: that one is
// a beta, lacks CONDSTORE/QRESYNC, QUOTA, SORT/THREAD, COMPRESS and NOTIFY,
// runs one command at a time per connection and keeps IDLE state inside one
// process, and it cannot be extended without copying its code. Its client
// is used in the tests.
//
// Implementation notes:
//   - All mailbox state comes from the store (package store); a session
//     keeps only its view of the selected mailbox: the UIDs the client knows
//     by sequence number and the MODSEQ up to which it has applied the
//     store's change log. Updates from other sessions are computed from
//     store.Changes after that MODSEQ, so another process (a cluster front
//     end) is seen the same way as a session next door.
//   - An EXPUNGE (or VANISHED, once QRESYNC is enabled) is never sent
//     while a FETCH, STORE or SEARCH is answered (RFC 9051 section 7.5.1):
//     the view keeps expunged UIDs, and their sequence numbers, until an
//     allowed point. VANISHED (EARLIER) names only UIDs the view no longer
//     holds, so it never renumbers behind the client's back.
//   - What differs between rev1 and rev2 sessions hangs off conn.rev2:
//     \Recent and the RECENT response (rev1 only; claimed in the store,
//     see recent.go), ESEARCH for every SEARCH, the LIST response
//     of SELECT and UTF-8 mailbox names (rev2).
//   - The store creates missing parents, so every mailbox LIST shows
//     exists; subscriptions are names and outlive their mailbox, so only
//     the SUBSCRIBED selection and LSUB show names without one
//     (\NonExistent, \Noselect; list.go).
//   - Messages are read from the store into memory in batches before any
//     of them is written to the client, so a slow client never holds the
//     store open.
//   - Message bytes come only from blob.Store.Get, which verifies them: a
//     corrupt blob fails the command with NO [UNAVAILABLE] and is logged;
//     bad bytes are never served.
//   - A store failure that is not a condition the user caused is answered
//     with a tagged NO [UNAVAILABLE] (RFC 5530) and the session stays
//     usable; every command's store calls run under CommandTimeout.
//   - SORT and THREAD (RFC 5256) use the metadata stored at delivery, SORT
//     only the store's indexed sort keys; message bytes are read only for
//     search keys that need them.
//   - An IDLE session holds as little as it can, since thousands of them
//     wait for hours: its write buffer goes to a pool while it waits, and
//     with COMPRESS a compressor is held only between a write and the
//     flush that ends it (compress.go).
//   - A command holds conn.mu from the end of its tag to its tagged
//     response; the NOTIFY goroutine (notify.go) takes it to write
//     between commands, so responses never interleave.
//   - The Server has no package-level state; many can run in one process.
package imap

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
	"casella/internal/store"
)

// Authenticator checks a login; directory.Directory implements it.
type Authenticator interface {
	Authenticate(ctx context.Context, address, password string) (directory.Account, error)
}

// Defaults used when the corresponding Server field is zero.
const (
	DefaultIdleTimeout = 30 * time.Minute // RFC 9051 section 5.4: at least 30 minutes
	// DefaultLoginTimeout is the autologout before login, which RFC 9051
	// section 5.4 wants short: a few minutes at most.
	DefaultLoginTimeout   = time.Minute
	DefaultCommandTimeout = 30 * time.Second
	DefaultMaxLiteral     = 64 << 20
	maxLine               = 64 << 10
	writeTimeout          = 5 * time.Minute
)

// Server is an IMAP server. Set its fields, then call Serve for each
// listener.
type Server struct {
	Store    store.Store
	Blobs    blob.Store
	Auth     Authenticator
	TLS      *tls.Config // nil: no STARTTLS and no implicit TLS
	Hostname string
	Logger   *slog.Logger

	// BlobsOf, when set, returns the blob store of an account's messages
	// (its cell's, in a cluster) at login, and Blobs is not used.
	BlobsOf func(ctx context.Context, acct directory.Account) (blob.Store, error)

	AuthLimit *limit.Auth // slows down repeated failed logins; nil: none
	Conns     *limit.Gate // caps on connections, and on an account's from one address; nil: none

	// AllowPlainLoopback allows LOGIN and AUTHENTICATE PLAIN without TLS
	// for clients on a loopback address.
	AllowPlainLoopback bool

	IdleTimeout    time.Duration // autologout of a silent client, also during IDLE
	LoginTimeout   time.Duration // autologout of a silent client that has not logged in
	CommandTimeout time.Duration // store work of one command
	MaxLiteral     int64         // largest literal accepted, APPEND included

	// Limits on an account's mailboxes (mailboxlimits.go); zero: default.
	MaxMailboxes    int // mailboxes per account
	MaxMailboxDepth int // levels of a mailbox name
	MaxMailboxName  int // bytes of a mailbox name

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   atomic.Bool
	wg        sync.WaitGroup
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("imap: server closed")

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout <= 0 {
		return DefaultIdleTimeout
	}
	return s.IdleTimeout
}

// blobsOf returns the blob store of an account's messages.
func (s *Server) blobsOf(ctx context.Context, acct directory.Account) (blob.Store, error) {
	if s.BlobsOf == nil {
		return s.Blobs, nil
	}
	return s.BlobsOf(ctx, acct)
}

func (s *Server) loginTimeout() time.Duration {
	if s.LoginTimeout <= 0 {
		return min(DefaultLoginTimeout, s.idleTimeout())
	}
	return s.LoginTimeout
}

func (s *Server) commandTimeout() time.Duration {
	if s.CommandTimeout <= 0 {
		return DefaultCommandTimeout
	}
	return s.CommandTimeout
}

func (s *Server) maxLiteral() int64 {
	if s.MaxLiteral <= 0 {
		return DefaultMaxLiteral
	}
	return s.MaxLiteral
}

// Serve accepts connections on l until Shutdown, serving each in its own
// goroutine. With implicitTLS every connection starts with a TLS handshake
// (RFC 8314, port 993).
func (s *Server) Serve(l net.Listener, implicitTLS bool) error {
	if implicitTLS && s.TLS == nil {
		return errors.New("imap: implicit TLS without a TLS configuration")
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = map[net.Listener]struct{}{}
		s.conns = map[*conn]struct{}{}
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("imap: accept: %w", err)
		}
		delay = 0
		c := newConn(s, nc, implicitTLS)
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
			c.serve()
		}()
	}
}

// Shutdown stops accepting connections and asks every session to end: a
// command in progress completes, then the client gets BYE. When ctx ends
// first, the remaining connections are closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		// Ends a wait for the next command; serve checks closing after
		// every deadline it sets, so none is missed.
		c.raw.SetReadDeadline(time.Now())
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
		s.mu.Lock()
		for c := range s.conns {
			c.raw.Close()
		}
		s.mu.Unlock()
		<-done
		return fmt.Errorf("imap: shutdown: %w", ctx.Err())
	}
}
