// Package loadgen implements the load generators of "casella bench": SMTP
// ingest (RFC 5321), a mix of IMAP commands (RFC 9051, RFC 3501), many
// connections in IMAP IDLE (RFC 2177) and one very large mailbox. They speak
// only the protocols, so one measurement runs unchanged against Casella and
// against other servers (Postfix, Dovecot) on the same machine.
//
// Implementation notes:
//   - Every latency sample is kept and percentiles are exact (nearest
//     rank); a run of a few hundred thousand operations needs a few
//     megabytes.
//   - A failed operation is counted as an error and its latency is not
//     recorded: latencies describe successes, error counts say how much
//     failed. A run that cannot reach the server at all is an error, not a
//     report of zeros.
//   - Connections share work through atomic counters; none waits for
//     another, so the server is the bottleneck, not the generator.
//   - Progress goes to Options.Progress once a second; reports are values
//     that print as text (WriteText) or JSON.
package loadgen

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// Seconds is a duration that encodes in JSON as a number of seconds.
type Seconds float64

func seconds(d time.Duration) Seconds { return Seconds(d.Seconds()) }

// Conn says how to reach a server: its address and whether to use TLS.
type Conn struct {
	// Addr is host:port, or several separated by commas: the nodes of a
	// cluster, which connection i reaches in turn (For).
	Addr string
	// StartTLS upgrades each connection with STARTTLS before anything else.
	StartTLS bool
	// Insecure skips the verification of the server's certificate, for
	// servers on loopback with self-signed certificates.
	Insecure bool
}

// For returns how connection i reaches its server: the i-th address of
// Addr, in turn, so that a load spreads evenly over the nodes it names.
func (c Conn) For(i int) Conn {
	addrs := strings.Split(c.Addr, ",")
	c.Addr = strings.TrimSpace(addrs[i%len(addrs)])
	return c
}

func (c Conn) tlsConfig() *tls.Config {
	host := c.Addr
	if h, _, err := net.SplitHostPort(c.Addr); err == nil {
		host = h
	}
	return &tls.Config{ServerName: host, InsecureSkipVerify: c.Insecure}
}

// Users names the accounts a load logs in to: Pattern with %d replaced by
// 1 to Count, all with one password.
type Users struct {
	Pattern  string // like user%d@example.test
	Count    int
	Password string
}

// name returns the i-th account (i from 0), cycling over Count.
func (u Users) name(i int) string {
	return fmt.Sprintf(u.Pattern, i%u.Count+1)
}

func (u Users) check() error {
	if u.Count < 1 {
		return fmt.Errorf("the number of mailboxes must be at least 1, not %d", u.Count)
	}
	if n := countVerbs(u.Pattern); n != 1 {
		return fmt.Errorf("address pattern %q must contain %%d exactly once, like user%%d@example.test", u.Pattern)
	}
	return nil
}

// countVerbs counts the %d verbs of a pattern.
func countVerbs(pattern string) int {
	n := 0
	for i := 0; i < len(pattern)-1; i++ {
		if pattern[i] == '%' {
			if pattern[i+1] != 'd' {
				return -1
			}
			n++
			i++
		}
	}
	return n
}

// ticker calls line every second until ctx is done and writes what it
// returns to w; on a terminal the line is rewritten in place. It returns a
// function that stops it and ends the line.
func ticker(ctx context.Context, w io.Writer, line func(elapsed time.Duration) string) (stop func()) {
	if w == nil {
		return func() {}
	}
	begin, end := "", "\n"
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			begin, end = "\r", "\x1b[K"
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				if end != "\n" {
					fmt.Fprint(w, "\n")
				}
				return
			case <-t.C:
				fmt.Fprintf(w, "%s%s%s", begin, line(time.Since(start)), end)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
