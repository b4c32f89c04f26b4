// Package pgserver runs a throwaway PostgreSQL server of the machine's:
// initdb in a directory of its own, the server listening on a free
// loopback port and on no Unix socket. Tests use it through package
// pgtest; "casella cluster local" uses it for a cluster to try.
//
// PostgreSQL refuses to run as root, so when this process is root (as
// CI is) the server runs as the unprivileged user "postgres" that
// Debian's postgresql package creates, or "nobody" without it. The
// binaries are looked up on PATH, then in /usr/lib/postgresql/*/bin.
package pgserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Install says how to get the server on Debian.
const Install = "apt-get install postgresql"

// Superuser is the role initdb creates; it logs in without a password
// over loopback.
const Superuser = "casella"

// Options change how the server runs.
type Options struct {
	// Durable keeps PostgreSQL's defaults (fsync, full page writes), for
	// benchmarks that compare stores honestly. Tests leave it false:
	// crashes they cause are of the process, not of the machine, so the
	// page cache survives them and the syncs buy nothing but time.
	// Commits stay synchronous either way: with synchronous_commit off a
	// stop in immediate mode loses the last commits, which would make
	// every crash test lie.
	Durable bool
	// Dir, when set, is the directory that holds the server's files
	// (created if missing, and kept by Close); "" makes a temporary one
	// that Close removes.
	Dir string
}

// Server is a running PostgreSQL. Its methods are safe for concurrent use.
type Server struct {
	Addr string // loopback host:port
	Dir  string // the data directory

	bin  string
	cred *syscall.Credential
	opts Options
	log  string
	dbs  atomic.Int64

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Launch initializes a database cluster and starts a server on it; the
// caller calls Close. It returns an error wrapping ErrNoServer when
// PostgreSQL is not installed.
func Launch(opts Options) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, owner, err := credential()
	if err != nil {
		return nil, err
	}
	dir := opts.Dir
	if dir == "" {
		dir, err = os.MkdirTemp("", "casella-pg-")
	} else {
		err = os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		return nil, err
	}
	remove := func() {
		if opts.Dir == "" {
			os.RemoveAll(dir)
		}
	}
	s := &Server{Dir: filepath.Join(dir, "data"), bin: bin, cred: cred, opts: opts, log: filepath.Join(dir, "server.log")}
	if owner != nil {
		// The server's user must reach the data directory and write its log.
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chown(dir, owner[0], owner[1]); err != nil {
			return nil, err
		}
	}
	initdb := s.command("initdb", "-D", s.Dir, "-U", Superuser, "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	if out, err := initdb.CombinedOutput(); err != nil {
		remove()
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	var lastErr error
	// The port is chosen by the kernel, freed and handed to the server; in
	// the rare case another process takes it in between, try another.
	for range 5 {
		if s.Addr, lastErr = freePort(); lastErr != nil {
			break
		}
		if lastErr = s.Restart(); lastErr == nil {
			return s, nil
		}
	}
	remove()
	return nil, fmt.Errorf("start postgres: %w", lastErr)
}

// ErrNoServer says PostgreSQL is not installed.
var ErrNoServer = errors.New("PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin)")

func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// The newest version sorts last among the numbered directories.
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) < version(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	return "", ErrNoServer
}

func version(bin string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return n
}

// credential returns who the server runs as: nil (this process's user)
// unless this process is root, which PostgreSQL refuses.
func credential() (*syscall.Credential, *[2]int, error) {
	if os.Geteuid() != 0 {
		return nil, nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, &[2]int{uid, gid}, nil
	}
	return nil, nil, errors.New("running as root and no unprivileged user (postgres or nobody) to run PostgreSQL as")
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = filepath.Dir(s.Dir)
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	// The server must not inherit settings meant for clients.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
	return cmd
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Restart starts the server again on its address after Stop, or the first
// time, and waits until it accepts connections.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("postgres is already running")
	}
	host, port, _ := net.SplitHostPort(s.Addr)
	args := []string{"-D", s.Dir, "-h", host, "-p", port,
		"-c", "unix_socket_directories=", "-c", "max_connections=300",
		"-c", "shared_buffers=128MB", "-c", "log_min_messages=warning"}
	if !s.opts.Durable {
		args = append(args, "-c", "fsync=off", "-c", "full_page_writes=off")
	}
	log, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := s.command("postgres", args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			out, _ := os.ReadFile(s.log)
			return fmt.Errorf("postgres exited (%v): %s", err, tail(out))
		default:
		}
		if s.ping() == nil {
			s.cmd = cmd
			go func() {
				// Reap the process whichever way it ends.
				<-exited
			}()
			return nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return errors.New("postgres did not accept connections within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	return c.Close(ctx)
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}

// Stop stops the server with pg_ctl's mode: "fast" closes sessions and
// checkpoints, "immediate" aborts like a crash (the next start recovers
// from the WAL).
func (s *Server) Stop(mode string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	out, err := s.command("pg_ctl", "stop", "-D", s.Dir, "-m", mode, "-w", "-t", "30").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %v: %s", mode, err, out)
	}
	s.cmd = nil
	return nil
}

// Close stops the server and removes its files, unless Options.Dir named
// where they are.
func (s *Server) Close() {
	if err := s.Stop("immediate"); err != nil {
		s.mu.Lock()
		if s.cmd != nil {
			s.cmd.Process.Kill()
		}
		s.mu.Unlock()
	}
	if s.opts.Dir == "" {
		os.RemoveAll(filepath.Dir(s.Dir))
	}
}

// DSN returns the connection string for database db.
func (s *Server) DSN(db string) string {
	host, port, _ := net.SplitHostPort(s.Addr)
	return fmt.Sprintf("postgres://%s@%s:%s/%s?sslmode=disable", Superuser, host, port, db)
}

// NewDB creates a new, empty database and returns its DSN.
func (s *Server) NewDB(ctx context.Context) (string, error) {
	name := fmt.Sprintf("casella_%d", s.dbs.Add(1))
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return s.DSN(name), nil
}
