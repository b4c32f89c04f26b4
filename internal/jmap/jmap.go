// Package jmap implements Casella's JMAP server: the core protocol
// (RFC 8620) and JMAP for Mail (RFC 8621), with push over EventSource
// (RFC 8620 section 7.3), on the mailbox store and the blob store.
//
// Implementation notes:
//   - All state comes from store.Store and blob.Store. Between requests
//     a node keeps only a cache: the latest index of recently active
//     accounts, which the next request brings forward from the change
//     log (index.go). Another node, or an IMAP session, changes the same
//     store, so JMAP sees its changes through the same change log. Who
//     uploaded a blob is recorded in the blob store (blobs.go), so any
//     node honours an upload.
//   - Ids are the store's stable ids, spelled as IMAP's OBJECTID spells
//     them (RFC 8474): Mailbox "M<id>", Email "E<emailid>", Thread
//     "T<threadid>". A blob's id is its SHA-256 key; a body part's blob is
//     "<key>_<partId>".
//   - One state string serves Mailbox, Email and Thread: the account's
//     highest MODSEQ (store package notes). A client told of a change to
//     one type may find no change in another; RFC 8620 section 5.1 allows
//     that.
//   - */changes read store.Changes after the given MODSEQ. The log keeps
//     every change, so cannotCalculateChanges is answered only for a state
//     that is not one this server gave, or when a destroyed email's
//     thread can no longer be told (Thread/changes, and the
//     */queryChanges whose results depend on threads).
//   - Message bytes come only from blob.Store.Get, which verifies them; a
//     corrupt blob fails the method with serverFail and is never served.
//   - Downloads are never rendered on the API origin: Content-Disposition
//     attachment, nosniff and a CSP that forbids everything (RFC 8620
//     section 8.3 and 8.5).
//   - The Server has no package-level state; many can run in one process.
package jmap

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
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

// TokenAuthenticator checks a bearer token (an app password);
// directories that implement directory.Tokens implement it.
type TokenAuthenticator interface {
	AuthenticateToken(ctx context.Context, token string) (directory.Account, error)
}

// Capability URIs (RFC 8620 section 2, RFC 8621 section 1.3).
const (
	capCore       = "urn:ietf:params:jmap:core"
	capMail       = "urn:ietf:params:jmap:mail"
	capSubmission = "urn:ietf:params:jmap:submission"
)

// Limits advertised in the core capability (RFC 8620 section 2) and
// enforced.
const (
	defaultMaxSizeUpload  = 50 << 20
	maxConcurrentUpload   = 4
	maxSizeRequest        = 10 << 20
	maxConcurrentRequests = 4
	maxCallsInRequest     = 32
	maxObjectsInGet       = 500
	maxObjectsInSet       = 500
	maxSizeMailboxName    = 490
	defaultTimeout        = 60 * time.Second
)

// Prefix is where the API, upload, download and push endpoints live.
const Prefix = "/jmap"

// Server serves JMAP over HTTP. Set its fields, then use it as an
// http.Handler for "/.well-known/jmap" and Prefix+"/".
type Server struct {
	Store store.Store
	Blobs blob.Store
	// BlobsOf, when set, returns the blob store of an account's messages
	// (its cell's, in a cluster), and Blobs is not used.
	BlobsOf func(ctx context.Context, acct directory.Account) (blob.Store, error)
	Auth    Authenticator
	// Tokens, when set, accepts "Authorization: Bearer" with an app
	// password (RFC 6750 section 2.1).
	Tokens    TokenAuthenticator
	AuthLimit *limit.Auth // the node's login throttle, shared with IMAP; nil: none
	Logger    *slog.Logger
	// Sieve keeps the accounts' Sieve scripts, for JMAP Sieve (RFC 9661)
	// and the VacationResponse, which is one of them (vacation.go); nil:
	// both fail.
	Sieve directory.SieveScripts
	// SieveMaxScriptSize and SieveMaxScripts limit each account's
	// scripts as ManageSieve does; zero: 64 KiB and 16.
	SieveMaxScriptSize int64
	SieveMaxScripts    int
	// Submission sends mail for EmailSubmission/set; nil: it is refused.
	Submission *Submission
	// Refused, when set, counts a request refused by a limit, by the
	// limit's name (maxConcurrentRequests, maxSizeUpload, ...); failed
	// and throttled logins are counted by AuthLimit.
	Refused func(reason string)
	// MaxSizeUpload is the largest upload and message; zero: 50 MiB. It
	// must not exceed what the HTTP server lets a request body carry.
	MaxSizeUpload int64
	// Timeout bounds the store work of one request; zero: one minute.
	Timeout time.Duration

	once    sync.Once
	mux     *http.ServeMux
	mu      sync.Mutex
	busy    map[store.Account]int // requests in progress, per account
	uploads uploads
	// subWatch wakes push streams when submissions change.
	subWatch directory.Watchers
	// early holds delivery statuses of submissions being recorded.
	early earlyStatuses
	// statuses are the delivery statuses waiting to be written
	// (statusWrites).
	statusOnce sync.Once
	statuses   chan statusWrite
	indexes    indexCache
	// done is closed by Shutdown, ending push streams.
	doneOnce  sync.Once
	closeOnce sync.Once
	done      chan struct{}
}

func (s *Server) doneChan() chan struct{} {
	s.doneOnce.Do(func() { s.done = make(chan struct{}) })
	return s.done
}

// Shutdown ends the push streams, which would otherwise hold an HTTP
// server's graceful shutdown until its deadline; register it with
// http.Server.RegisterOnShutdown.
func (s *Server) Shutdown() {
	ch := s.doneChan()
	s.closeOnce.Do(func() { close(ch) })
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// refuse answers a request-level limit error (RFC 8620 section 3.6.1)
// and counts it.
func (s *Server) refuse(w http.ResponseWriter, code int, limit, detail string) {
	if s.Refused != nil {
		s.Refused(limit)
	}
	problem(w, code, errLimit, detail, "limit", limit)
}

func (s *Server) maxSizeUpload() int64 {
	if s.MaxSizeUpload <= 0 {
		return defaultMaxSizeUpload
	}
	return s.MaxSizeUpload
}

func (s *Server) timeout() time.Duration {
	if s.Timeout <= 0 {
		return defaultTimeout
	}
	return s.Timeout
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.once.Do(func() {
		m := http.NewServeMux()
		m.HandleFunc("GET /.well-known/jmap", s.authed(s.serveSession))
		m.HandleFunc("POST "+Prefix+"/api", s.authed(s.serveAPI))
		m.HandleFunc("POST "+Prefix+"/upload/{account}/{$}", s.authed(s.serveUpload))
		m.HandleFunc("GET "+Prefix+"/download/{account}/{blob}/{name}", s.authed(s.serveDownload))
		m.HandleFunc("GET "+Prefix+"/eventsource", s.authed(s.serveEventSource))
		m.HandleFunc("GET "+Prefix+"/ws", s.authed(s.serveWebSocket))
		s.mux = m
	})
	s.mux.ServeHTTP(w, r)
}

// session is an authenticated request's account.
type session struct {
	acct   directory.Account
	blobs  blob.Store
	remote string // the client's address, for the login throttle
}

// authed checks HTTP Basic credentials (RFC 7617) against the directory,
// or a bearer token (RFC 6750) against its app passwords, counting
// failures in the login throttle that IMAP uses, and passes the account
// on.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, check, ok := s.credentials(r)
		if !ok {
			unauthorized(w)
			return
		}
		ctx := r.Context()
		var at *limit.Attempt
		if s.AuthLimit != nil {
			var err error
			if at, err = s.AuthLimit.Admit(ctx, "jmap", user, remoteAddr(r.RemoteAddr)); err != nil {
				w.Header().Set("Retry-After", "60")
				problem(w, http.StatusTooManyRequests, "about:blank", "Too many failed logins; try again later")
				return
			}
		}
		acct, err := check(ctx)
		if errors.Is(err, directory.ErrBadCredentials) {
			if at != nil {
				at.Failed()
			}
			s.logger().Info("jmap login failed", "user", user, "remote", r.RemoteAddr)
			unauthorized(w)
			return
		}
		if err != nil {
			if at != nil {
				at.Unchecked()
			}
			s.logger().Warn("jmap authentication unavailable", "err", err)
			problem(w, http.StatusServiceUnavailable, "urn:ietf:params:jmap:error:serverUnavailable", "Authentication is temporarily unavailable, try again")
			return
		}
		if at != nil {
			at.Succeeded()
		}
		blobs := s.Blobs
		if s.BlobsOf != nil {
			if blobs, err = s.BlobsOf(ctx, acct); err != nil {
				s.logger().Warn("finding the account's blob store", "err", err, "account", acct.ID)
				problem(w, http.StatusServiceUnavailable, "urn:ietf:params:jmap:error:serverUnavailable", "Your mailbox is temporarily unavailable, try again later")
				return
			}
		}
		if err := s.Store.EnsureAccount(ctx, acct.ID); err != nil {
			s.logger().Warn("ensuring account in store", "err", err, "account", acct.ID)
		}
		h(w, r, &session{acct: acct, blobs: blobs, remote: r.RemoteAddr})
	}
}

// credentials returns the login a request carries: the name the login
// throttle keys it by and the check of its secret. A bearer token is
// keyed by its public id, so guesses at tokens are throttled per token
// beside the client's address and network, as guesses at passwords are.
func (s *Server) credentials(r *http.Request) (user string, check func(context.Context) (directory.Account, error), ok bool) {
	if user, pass, ok := r.BasicAuth(); ok {
		return user, func(ctx context.Context) (directory.Account, error) { return s.Auth.Authenticate(ctx, user, pass) }, true
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if s.Tokens == nil || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", nil, false
	}
	id, valid := directory.ParseToken(token)
	if !valid {
		// Not even shaped like a token: still a failed login, keyed
		// apart from every real token.
		id = "malformed"
	}
	return "token:" + id, func(ctx context.Context) (directory.Account, error) {
		if !valid {
			return directory.Account{}, directory.ErrBadCredentials
		}
		return s.Tokens.AuthenticateToken(ctx, token)
	}, true
}

// remoteAddr is the client's address as the login throttle keys it.
func remoteAddr(s string) net.Addr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return &net.TCPAddr{}
	}
	return net.TCPAddrFromAddrPort(ap)
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="Casella JMAP", charset="UTF-8"`)
	w.Header().Add("WWW-Authenticate", `Bearer realm="Casella JMAP"`)
	problem(w, http.StatusUnauthorized, "about:blank", "Valid credentials are needed")
}

// enter counts a request of the account against maxConcurrentRequests.
func (s *Server) enter(acct store.Account) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy == nil {
		s.busy = map[store.Account]int{}
	}
	if s.busy[acct] >= maxConcurrentRequests {
		return false
	}
	s.busy[acct]++
	return true
}

func (s *Server) leave(acct store.Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[acct]--; s.busy[acct] <= 0 {
		delete(s.busy, acct)
	}
}
