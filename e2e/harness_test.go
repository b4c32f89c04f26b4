// Package e2e runs the real casella binary and talks to it with independent
// clients: Python's smtplib, imaplib and poplib, swaks, mbsync, mutt and
// fetchmail, over loopback only.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the casella binary built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "casella-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "casella")
	build := exec.Command("go", "build", "-o", binary, "casella/cmd/casella")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building casella:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running casella serve process.
type server struct {
	t      *testing.T
	data   string
	config string
	cmd    *exec.Cmd
	addrs  map[string]string // listener name -> host:port
	demo   [2]string         // demo address and password, when printed

	mu     sync.Mutex
	output bytes.Buffer
	exited chan struct{}
}

// serverConfig is the configuration every e2e server starts with: every
// listener on a random loopback port, and fault injection allowed so that
// fault drills can drive it.
const serverConfig = `
hostname = "mx.example.test"
[smtp]
listen = "127.0.0.1:0"
submission = "127.0.0.1:0"
submissions = "127.0.0.1:0"
max_message_size = "10MiB"
max_recipients = 50
# Test senders are made up; TestSenderChecks turns the checks on with a
# DNS server of its own.
check_senders = false
[imap]
listen = "127.0.0.1:0"
tls_listen = "127.0.0.1:0"
[pop3]
listen = "127.0.0.1:0"
tls_listen = "127.0.0.1:0"
[http]
listen = "127.0.0.1:0"
[managesieve]
listen = "127.0.0.1:0"
[spool]
retry_min = "100ms"
retry_max = "1s"
breaker_cooldown = "500ms"
[demo]
enabled = false
`

// newData makes a data directory with a configuration file.
func newData(t *testing.T, extra string) (data, config string) {
	t.Helper()
	data = filepath.Join(t.TempDir(), "data")
	config = filepath.Join(t.TempDir(), "casella.toml")
	if err := os.WriteFile(config, []byte(serverConfig+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	return data, config
}

// rewriteConfig replaces the first old in the configuration file.
func rewriteConfig(t *testing.T, config, old, new string) {
	t.Helper()
	raw, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(old)) {
		t.Fatalf("configuration has no %q", old)
	}
	if err := os.WriteFile(config, bytes.Replace(raw, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startServer starts casella serve on data and waits until it has printed
// its listeners.
func startServer(t *testing.T, data, config string, args ...string) *server {
	t.Helper()
	s := &server{t: t, data: data, config: config, addrs: map[string]string{}, exited: make(chan struct{})}
	s.cmd = exec.Command(binary, append([]string{"serve", "--data", data, "--config", config}, args...)...)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = &lockedWriter{s}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go s.read(stdout, ready)
	go func() { s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() { s.kill() })
	select {
	case <-ready:
	case <-s.exited:
		t.Fatalf("casella serve exited before it was ready:\n%s", s.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("casella serve did not print its listeners within 60s:\n%s", s.log())
	}
	return s
}

var listenerLine = regexp.MustCompile(`^\s+(\w+)\s+(\S+:\d+)\s*$`)
var demoLine = regexp.MustCompile(`^Demo account:\s+(\S+)\s+password:\s+(\S+)`)

// read copies the server's stdout into its log and notes the listener
// addresses it prints; ready closes after the line "Casella is ready".
func (s *server) read(r io.Reader, ready chan struct{}) {
	sc := bufio.NewScanner(r)
	closed := false
	for sc.Scan() {
		line := sc.Text()
		s.mu.Lock()
		s.output.WriteString(line + "\n")
		if m := listenerLine.FindStringSubmatch(line); m != nil && !closed {
			s.addrs[m[1]] = m[2]
		}
		if m := demoLine.FindStringSubmatch(line); m != nil {
			s.demo = [2]string{m[1], m[2]}
		}
		s.mu.Unlock()
		if strings.HasPrefix(line, "Casella is ready") && !closed {
			closed = true
			close(ready)
		}
	}
}

type lockedWriter struct{ s *server }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.output.Write(p)
}

func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.output.String()
}

// addr returns a listener's address, failing the test when it is missing.
func (s *server) addr(name string) string {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.addrs[name]
	if !ok {
		s.t.Fatalf("server printed no %q listener; it printed %v", name, s.addrs)
	}
	return a
}

func (s *server) port(name string) string {
	a := s.addr(name)
	return a[strings.LastIndexByte(a, ':')+1:]
}

// kill ends the server with SIGKILL, as a crash would.
func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// stop ends the server with SIGTERM and waits for a clean exit.
func (s *server) stop() {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.t.Fatalf("server did not stop within 30s of SIGTERM:\n%s", s.log())
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		s.t.Fatalf("server exited with %d after SIGTERM:\n%s", code, s.log())
	}
}

// casella runs an admin command on the server's data directory and returns
// its output, failing the test when it fails.
func (s *server) casella(args ...string) string {
	s.t.Helper()
	out, err := runCasella(s.data, s.config, args...)
	if err != nil {
		s.t.Fatalf("casella %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func runCasella(data, config string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append(append([]string{}, args...), "--data", data)
	if config != "" {
		full = append(full, "--config", config)
	}
	cmd := exec.CommandContext(ctx, binary, full...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// python runs a Python script with arguments and returns its output.
func python(t *testing.T, script string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", append([]string{"-c", script}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return string(out)
}

// need skips the test when a client program is not installed; .ci/run
// installs them all, so in CI nothing is skipped.
func need(t *testing.T, program string) {
	t.Helper()
	if _, err := exec.LookPath(program); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; .ci/run should have installed it", program)
		}
		t.Skipf("%s is not installed", program)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
