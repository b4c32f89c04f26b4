package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// imapDial opens an IMAP connection and returns its reader after the
// greeting, or the greeting when it is not OK.
func imapDial(t *testing.T, addr string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	greeting, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("greeting: %v", err)
	}
	return c, r, greeting
}

// imapLoginOn logs in on an open connection and returns the tagged answer.
func imapLoginOn(t *testing.T, c net.Conn, r *bufio.Reader, user, pass string) string {
	t.Helper()
	fmt.Fprintf(c, "l LOGIN %s %q\r\n", user, pass)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		if strings.HasPrefix(line, "l ") {
			return line
		}
	}
}

// TestConnectionCaps: fifty IMAP clients from one address get in (issue
// 18, item 12), an account's cap from one address answers NO [LIMIT], the
// protocol's cap BYE [UNAVAILABLE], HTTP's 503, and the refusals are
// logged and counted in /metrics.
func TestConnectionCaps(t *testing.T) {
	data, config := newData(t, "")
	setConfig(t, config, "imap", "max_connections = 55")
	setConfig(t, config, "http", "max_connections = 3")
	s := startServer(t, data, config)
	users := []string{"ann@caps.test", "ben@caps.test", "cat@caps.test"}
	for _, u := range users {
		setupAccount(t, s, u, "password "+u)
	}
	login := func(user string) string {
		c, r, greeting := imapDial(t, s.addr("imap"))
		if !strings.HasPrefix(greeting, "* OK") {
			t.Fatalf("greeting %q", greeting)
		}
		return imapLoginOn(t, c, r, user, "password "+user)
	}
	for i := range 50 {
		u := users[min(i/20, 2)] // 20 each for ann and ben, 10 for cat
		if got := login(u); !strings.HasPrefix(got, "l OK") {
			t.Fatalf("login %d as %s: %q", i, u, got)
		}
	}
	if got := login(users[0]); !strings.HasPrefix(got, "l NO [LIMIT]") {
		t.Fatalf("ann's 21st login: %q, want NO [LIMIT]", got)
	}
	for range 4 {
		imapDial(t, s.addr("imap"))
	}
	if _, _, greeting := imapDial(t, s.addr("imap")); greeting != "* BYE [UNAVAILABLE] Too many IMAP connections, try again later\r\n" {
		t.Fatalf("connection over imap.max_connections: %q", greeting)
	}

	// HTTP: past its cap, 503; the connections held are then let go.
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", s.addr("http"))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	c, err := net.Dial("tcp", s.addr("http"))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if line, _ := bufio.NewReader(c).ReadString('\n'); line != "HTTP/1.1 503 Service Unavailable\r\n" {
		t.Fatalf("HTTP connection over http.max_connections: %q", line)
	}
	c.Close()
	for _, c := range held {
		c.Close()
	}
	var resp *http.Response
	waitFor(t, 30*time.Second, "an HTTP slot", func() bool {
		resp, err = http.Get("http://" + s.addr("http") + "/metrics")
		if err == nil && resp.StatusCode != http.StatusOK {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	// HTTP's count may be more than 1: the wait above may have met the cap.
	for _, pr := range []string{"imap protocol_full 1", "imap user_address 1", "http protocol_full [1-9][0-9]*"} {
		f := strings.Fields(pr)
		protocol, reason, count := f[0], f[1], f[2]
		re := regexp.MustCompile(`(?m)^casella_connections_refused_total\{protocol="` + protocol + `",reason="` + reason + `"\} ` + count + `$`)
		if !re.Match(body) {
			t.Errorf("/metrics has no line matching %s", re)
		}
		if !strings.Contains(s.log(), "reason="+reason) {
			t.Errorf("no log line gives the refusal's reason %s", reason)
		}
	}
}
