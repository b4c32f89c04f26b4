package server

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"casella/internal/config"
	"casella/internal/limit"
)

// serveTestHTTP serves a handler that answers "ok" with cfg's limits and
// at most maxConns connections.
func serveTestHTTP(t *testing.T, cfg config.HTTP, maxConns int) (addr string, refusals *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		io.WriteString(w, "ok")
	})
	srv := newHTTPServer(cfg, h, log)
	refusals = new(atomic.Int64)
	gate := &limit.Gate{Protocol: "http", Proto: limit.NewConns(maxConns), Refused: func(string, string) { refusals.Add(1) }}
	go srv.Serve(&gatedListener{Listener: l, gate: gate, log: log})
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), refusals
}

func testHTTPConfig() config.HTTP {
	c := config.Default().HTTP
	c.MaxHeaderBytes = 4 << 10
	c.MaxRequestBody = 1 << 10
	return c
}

func dialHTTP(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c, bufio.NewReader(c)
}

// waitClosed reads until the server closes the connection.
func waitClosed(t *testing.T, r *bufio.Reader) {
	t.Helper()
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatalf("waiting for the server to close: %v", err)
	}
}

// TestHTTPIdleConnectionsClosed: a connection that sends nothing, and one
// idle after a request, are closed by the server.
func TestHTTPIdleConnectionsClosed(t *testing.T) {
	cfg := testHTTPConfig()
	cfg.ReadHeaderTimeout = config.Duration(200 * time.Millisecond)
	cfg.IdleTimeout = config.Duration(200 * time.Millisecond)
	addr, _ := serveTestHTTP(t, cfg, 10)

	_, silent := dialHTTP(t, addr)
	waitClosed(t, silent)

	c, r := dialHTTP(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("keep-alive request: %s, close %v", resp.Status, resp.Close)
	}
	waitClosed(t, r)
}

// TestHTTPConnectionCap: past the cap a client gets 503 and is closed;
// a slot freed lets the next one in.
func TestHTTPConnectionCap(t *testing.T) {
	addr, refusals := serveTestHTTP(t, testHTTPConfig(), 2)
	first, _ := dialHTTP(t, addr)
	second, r2 := dialHTTP(t, addr)
	_, r3 := dialHTTP(t, addr)
	resp, err := http.ReadResponse(r3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third connection: %s %v", resp.Status, resp.Header)
	}
	waitClosed(t, r3)
	if n := refusals.Load(); n != 1 {
		t.Fatalf("%d refusals counted, want 1", n)
	}
	// The two admitted connections are served.
	io.WriteString(second, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err := http.ReadResponse(r2, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("second connection: %v %v", resp, err)
	}
	first.Close()
	for i := 0; ; i++ { // the server frees the slot once it sees the close
		c, r := dialHTTP(t, addr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(r, nil)
		if err == nil && resp.StatusCode == 200 {
			break
		}
		if i == 100 {
			t.Fatalf("no slot after a close: %v %v", resp, err)
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHTTPRequestSize: a header or body over its limit is refused.
func TestHTTPRequestSize(t *testing.T) {
	addr, _ := serveTestHTTP(t, testHTTPConfig(), 10)
	c, r := dialHTTP(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 16<<10)+"\r\n\r\n")
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("16 KiB header: %s", resp.Status)
	}
	c, r = dialHTTP(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n"+strings.Repeat("b", 2048))
	if resp, err = http.ReadResponse(r, nil); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("2 KiB body: %v %v", resp, err)
	}
}
