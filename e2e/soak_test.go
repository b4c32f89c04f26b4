package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"casella/internal/loadgen"
)

// hostile is one kind of hostile client: it works on a connection until
// the server closes it.
type hostile struct {
	name     string
	listener string // the server's listener it connects to
	share    int    // connections of every 100
	run      func(c net.Conn)
}

// trickle sends s one byte at a time, a byte a second: a slow client.
func trickle(c net.Conn, s string) {
	for i := 0; ; i = (i + 1) % len(s) {
		if _, err := c.Write([]byte{s[i]}); err != nil {
			return
		}
		time.Sleep(time.Second)
	}
}

var hostiles = []hostile{
	// A literal announced big before login, then one byte, then silence.
	{"imap-literal", "imap", 25, func(c net.Conn) {
		io.WriteString(c, "a LOGIN {52428800}\r\nx")
		io.Copy(io.Discard, c)
	}},
	// A command sent a byte a second, never ending.
	{"imap-slow", "imap", 20, func(c net.Conn) { trickle(c, "a LOGIN user password") }},
	// Lines that are not IMAP.
	{"imap-garbage", "imap", 10, func(c net.Conn) {
		for {
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\n"); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}},
	// A greeting read, then nothing.
	{"smtp-idle", "smtp", 15, func(c net.Conn) {
		io.WriteString(c, "EHLO hostile.test\r\n")
		io.Copy(io.Discard, c)
	}},
	// An endless line before login.
	{"pop3-line", "pop3", 15, func(c net.Conn) {
		buf := make([]byte, 4096)
		for i := range buf {
			buf[i] = 'x'
		}
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}},
	// A request header a byte a second (slowloris).
	{"http-slow", "http", 15, func(c net.Conn) { trickle(c, "GET / HTTP/1.1\r\nHost: x\r\nX-a: b\r\n") }},
}

// runHostiles keeps n hostile connections open from the loopback
// addresses 127.0.0.2 and up, 100 from each, reconnecting whatever the
// server closes, until ctx ends. It returns the count of connections made.
func runHostiles(ctx context.Context, s *server, n int) *atomic.Int64 {
	var made atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		h := hostiles[0]
		for k, slot := 0, i%100; k < len(hostiles); k++ {
			if slot < hostiles[k].share {
				h = hostiles[k]
				break
			}
			slot -= hostiles[k].share
		}
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i/100))}}
		addr := s.addr(h.listener)
		wg.Go(func() {
			for ctx.Err() == nil {
				c, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				made.Add(1)
				stop := context.AfterFunc(ctx, func() { c.Close() })
				h.run(c)
				stop()
				c.Close()
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	go func() { <-ctx.Done(); wg.Wait() }()
	return &made
}

// rss reads a process's resident set size.
func rss(t *testing.T, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// normalLoad runs SMTP ingest and an IMAP mix together for d and returns
// one line of figures.
func normalLoad(t *testing.T, s *server, users loadgen.Users, d time.Duration) string {
	ctx := context.Background()
	var (
		wg   sync.WaitGroup
		sr   *loadgen.SMTPReport
		ir   *loadgen.IMAPReport
		serr error
		ierr error
	)
	wg.Go(func() {
		// Sized to last about d at this machine's pace.
		sr, serr = loadgen.SMTP(ctx, loadgen.SMTPOptions{
			Server: loadgen.Conn{Addr: s.addr("smtp")}, Messages: int(d.Seconds()) * 40, Connections: 4,
			Size: loadgen.SizeRange{Min: 2000, Max: 20000}, Recipients: users,
		})
	})
	wg.Go(func() {
		ir, ierr = loadgen.IMAP(ctx, loadgen.IMAPOptions{
			Server: loadgen.Conn{Addr: s.addr("imap")}, Clients: 10, Duration: d, Users: users,
			Size: loadgen.SizeRange{Min: 2000, Max: 20000},
		})
	})
	wg.Wait()
	if serr != nil || ierr != nil {
		t.Fatalf("load: %v, %v", serr, ierr)
	}
	var p99 float64
	for _, c := range ir.Commands {
		if c.Op != "IDLE" { // an IDLE of the mix lasts its IdleFor
			p99 = max(p99, c.P99)
		}
	}
	return fmt.Sprintf("SMTP %.1f msg/s (p99 %.0f ms, %d failed, %d deferred); IMAP %.0f commands/s (worst p99 but IDLE's %.0f ms, %d errors)",
		sr.PerSecond, sr.Latency.P99, sr.Failed, sr.Deferred, ir.PerSecond, p99, ir.Errors)
}

// TestHostileSoak measures a normal SMTP and IMAP load alone, then beside
// 1,000 hostile connections of mixed kinds from ten other addresses, and
// reports both with the server's memory. It runs only when
// CASELLA_SOAK gives the length of each load, for example:
//
//	CASELLA_SOAK=5m go test -run HostileSoak -v -timeout 30m ./e2e/
func TestHostileSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("CASELLA_SOAK"))
	if err != nil {
		t.Skip("set CASELLA_SOAK to the length of each load, like 5m")
	}
	data, config := newData(t, "")
	s := startServer(t, data, config)
	users := loadgen.Users{Pattern: "user%d@soak.test", Count: 10, Password: "soak password"}
	for i := range users.Count {
		setupAccount(t, s, fmt.Sprintf(users.Pattern, i+1), users.Password)
	}
	pid := s.cmd.Process.Pid
	before := rss(t, pid)
	normalLoad(t, s, users, 10*time.Second) // a warm-up: mailboxes with mail in them
	alone := normalLoad(t, s, users, d)
	afterAlone := rss(t, pid)

	ctx, cancel := context.WithCancel(context.Background())
	made := runHostiles(ctx, s, 1000)
	time.Sleep(10 * time.Second) // let them all connect
	withHostile := rss(t, pid)
	beside := normalLoad(t, s, users, d)
	end := rss(t, pid)
	cancel()

	refused, _ := httpGetMetric(s, "casella_connections_refused_total")
	t.Logf("load alone:           %s", alone)
	t.Logf("beside 1000 hostile:  %s", beside)
	t.Logf("server RSS: %d MiB at start, %d after the load alone, %d with the hostile connections, %d at the end; %d hostile connections made (reconnecting when closed)",
		before>>20, afterAlone>>20, withHostile>>20, end>>20, made.Load())
	t.Logf("refusals: %s", refused)
}

// httpGetMetric returns the lines of /metrics that start with name.
func httpGetMetric(s *server, name string) (string, error) {
	c, err := net.Dial("tcp", s.addr("http"))
	if err != nil {
		return "", err
	}
	defer c.Close()
	io.WriteString(c, "GET /metrics HTTP/1.0\r\n\r\n")
	var lines []string
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), name) {
			lines = append(lines, sc.Text())
		}
	}
	return strings.Join(lines, "; "), sc.Err()
}
