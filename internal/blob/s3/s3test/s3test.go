// Package s3test runs a real S3 server for tests and benchmarks: versitygw
// with its POSIX backend in a temporary directory, listening on loopback
// only. It never mocks S3: the point of the tests is to meet a server that
// was written by someone else.
//
// The binary is looked up on PATH, then in $(go env GOPATH)/bin, where
// .ci/run installs it with `go install`. Tests skip, saying how to install
// it, only when it is in neither place.
package s3test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	blobs3 "casella/internal/blob/s3"
	"casella/internal/blob/s3/versitygw"
)

// Install is the command that installs the pinned server version.
const Install = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// VirtualDomain is the base domain the server accepts virtual-host style
// requests for: bucket "b" is addressed as b.s3.test. Clients reach it
// through Server.HTTPClient, which sends every connection to the server's
// loopback address whatever the name.
const VirtualDomain = "s3.test"

// Server is a running versitygw.
type Server struct {
	Addr      string // loopback host:port
	AccessKey string
	SecretKey string
	Dir       string // the POSIX backend's root: one directory per bucket

	buckets atomic.Int64

	tb   testing.TB
	bin  string
	stop func() // kills the running process; nil once killed
}

// Start starts a server that stops when tb's test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := versitygw.Path()
	if bin == "" {
		tb.Skipf("versitygw is not installed (neither on PATH nor in $(go env GOPATH)/bin); the S3 tests need a real S3 server: run %q", Install)
	}
	s := &Server{AccessKey: "casellatest", SecretKey: "casellatest-secret-key", Dir: tb.TempDir(), tb: tb, bin: bin}
	var lastErr error
	// The port is chosen by the kernel, freed and handed to the server; in
	// the rare case another process takes it in between, try another.
	for range 5 {
		addr, err := freePort()
		if err != nil {
			tb.Fatalf("pick a port for versitygw: %v", err)
		}
		if lastErr = s.run(tb, bin, addr); lastErr == nil {
			return s
		}
	}
	tb.Fatalf("start versitygw: %v", lastErr)
	return nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// run starts the server on addr and waits until it answers.
func (s *Server) run(tb testing.TB, bin, addr string) error {
	tb.Helper()
	log, err := os.Create(filepath.Join(tb.TempDir(), "versitygw.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(bin, "--port", addr, "--quiet", "--virtual-domain", VirtualDomain, "posix", s.Dir)
	// Keys go through the environment, not argv, as an operator would
	// pass them.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			out, _ := os.ReadFile(log.Name())
			return fmt.Errorf("versitygw exited (%v): %s", err, out)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			s.Addr = addr
			s.stop = stop
			tb.Cleanup(s.Kill)
			return nil
		}
		if time.Now().After(deadline) {
			stop()
			return errors.New("versitygw did not listen within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill ends the server as a crash would: its clients' calls fail until
// Restart.
func (s *Server) Kill() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
}

// Restart starts the server again after Kill, on its address and over
// its data.
func (s *Server) Restart() error {
	if s.stop != nil {
		return errors.New("versitygw is already running")
	}
	return s.run(s.tb, s.bin, s.Addr)
}

// Endpoint returns the server's base URL for path-style requests.
func (s *Server) Endpoint() string {
	return "http://" + s.Addr
}

// VirtualEndpoint returns the base URL for virtual-host style requests,
// to be used with HTTPClient.
func (s *Server) VirtualEndpoint() string {
	_, port, _ := net.SplitHostPort(s.Addr)
	return "http://" + VirtualDomain + ":" + port
}

// HTTPClient returns a client that connects to the server whatever host
// name a request carries, so virtual-host names need no DNS.
func (s *Server) HTTPClient() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, s.Addr)
		},
	}}
}

// Bucket creates a new, empty bucket and returns its name.
func (s *Server) Bucket(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("casella-%d", s.buckets.Add(1))
	client := s3.New(s3.Options{
		Region:       blobs3.DefaultRegion,
		BaseEndpoint: aws.String(s.Endpoint()),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		tb.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// Options returns store options for a new bucket, path style.
func (s *Server) Options(tb testing.TB) blobs3.Options {
	tb.Helper()
	return blobs3.Options{
		Endpoint:  s.Endpoint(),
		Bucket:    s.Bucket(tb),
		AccessKey: s.AccessKey,
		SecretKey: s.SecretKey,
		PathStyle: true,
		Timeout:   10 * time.Second,
	}
}

// Open opens a store over a new bucket, path style.
func (s *Server) Open(tb testing.TB) *blobs3.Store {
	tb.Helper()
	st, err := blobs3.Open(tb.Context(), s.Options(tb))
	if err != nil {
		tb.Fatalf("open S3 store: %v", err)
	}
	return st
}
