// Package pgtest runs a real PostgreSQL server for tests and benchmarks
// (package pgserver): initdb in a temporary directory, the server
// listening on a random loopback port and on no Unix socket. It never
// mocks PostgreSQL: the point of the tests is to meet the real engine,
// its locks, its isolation and its failures.
//
// Tests skip, saying how to install it, when there is no server, except
// under CI=true, where a missing server is a failure: .ci/run installs
// it.
package pgtest

import (
	"errors"
	"os"
	"testing"

	"casella/internal/pgserver"
)

// Install says how to get the server on Debian.
const Install = pgserver.Install

// Superuser is the role initdb creates; it logs in without a password
// over loopback.
const Superuser = pgserver.Superuser

// Options change how the server runs.
type Options = pgserver.Options

// Server is a running PostgreSQL. Its methods are safe for concurrent use.
type Server struct {
	*pgserver.Server
}

// Start starts a server that stops when tb's test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := Launch(opts)
	if errors.Is(err, pgserver.ErrNoServer) && os.Getenv("CI") == "" {
		tb.Skipf("%v; the PostgreSQL tests need a real server: %s", err, Install)
	}
	if err != nil {
		tb.Fatalf("start PostgreSQL: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Launch starts a server outside a test, for TestMain; the caller calls
// Close.
func Launch(opts Options) (*Server, error) {
	s, err := pgserver.Launch(opts)
	if err != nil {
		return nil, err
	}
	return &Server{s}, nil
}

// CreateDB creates a new, empty database and returns its DSN.
func (s *Server) CreateDB(tb testing.TB) string {
	tb.Helper()
	dsn, err := s.NewDB(tb.Context())
	if err != nil {
		tb.Fatalf("create database: %v", err)
	}
	return dsn
}
