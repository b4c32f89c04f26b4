package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// fault runs "casella fault ARGS" against the server's HTTP listener and
// returns its output, failing the test when it fails.
func fault(t *testing.T, s *server, args ...string) string {
	t.Helper()
	args = append(append([]string{"fault"}, args...), "--server", "http://"+s.addr("http"))
	out, err := runCasella(s.data, s.config, args...)
	if err != nil {
		t.Fatalf("casella %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// logTail returns the last n lines of the server's output.
func logTail(s *server, n int) string {
	lines := strings.Split(strings.TrimRight(s.log(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// hasFault reports whether casella fault's output gives target fault f.
func hasFault(out, target, f string) bool {
	for _, line := range strings.Split(out, "\n") {
		if fields := strings.Fields(line); len(fields) == 2 && fields[0] == target && fields[1] == f {
			return true
		}
	}
	return false
}

// setConfig adds a line to a section of the configuration file that
// newData wrote.
func setConfig(t *testing.T, config, section, line string) {
	t.Helper()
	header := "[" + section + "]\n"
	rewriteConfig(t, config, header, header+line+"\n")
}

// roomForLoad lets loadMany's connections in: each of its chunks opens
// fresh connections while the server may still count the closing ones.
func roomForLoad(t *testing.T, config string) {
	setConfig(t, config, "smtp", "max_connections_per_ip = 200")
}

// loadChunk is the most messages per connection that one call of load
// sends: its messages grow with their index, and from the 77th on a body
// line exceeds SMTP's 1000-octet limit (RFC 5321 section 4.5.3.1.6), which
// the server rightly refuses with a 5xx.
const loadChunk = 75

// loadMany is load for more than loadChunk messages per connection. It
// stops at the first chunk that was not accepted whole, as when the server
// was killed.
func loadMany(addr, prefix, rcpt string, conns, perConn int) (accepted, attempted map[string][]byte) {
	accepted, attempted = map[string][]byte{}, map[string][]byte{}
	for first := 0; first < perConn; first += loadChunk {
		n := min(loadChunk, perConn-first)
		acc, att := load(addr, fmt.Sprintf("%s.%d", prefix, first), rcpt, conns, n)
		maps.Copy(accepted, acc)
		maps.Copy(attempted, att)
		if len(acc) < conns*n {
			break
		}
	}
	return accepted, attempted
}

func TestFaultStoreErrorUnderLoad(t *testing.T) { storeFaultUnderLoad(t, "error", 10000) }

func TestFaultStoreHangUnderLoad(t *testing.T) { storeFaultUnderLoad(t, "hang", 10000) }

// storeFaultUnderLoad sends messages over 20 connections in three equal
// phases; the mailbox store has the fault during the second. Every message
// must be accepted, and delivered exactly once, byte for byte, once the
// fault is cleared.
func storeFaultUnderLoad(t *testing.T, f string, messages int) {
	data, config := newData(t, "")
	roomForLoad(t, config)
	s := startServer(t, data, config, "--allow-faults")
	setupAccount(t, s, "alice@example.test", "alice-secret-1")

	const conns = 20
	perConn := messages / conns
	phases := []int{perConn / 3, perConn / 3, perConn - 2*(perConn/3)}
	accepted, attempted := map[string][]byte{}, map[string][]byte{}
	for phase, n := range phases {
		switch phase {
		case 1:
			if out := fault(t, s, "inject", "store", f); !hasFault(out, "store", f) {
				t.Fatalf("casella fault inject printed %q, want the store with fault %s", out, f)
			}
		case 2:
			if out := fault(t, s, "clear", "store"); !hasFault(out, "store", "none") {
				t.Fatalf("casella fault clear printed %q", out)
			}
		}
		acc, att := loadMany(s.addr("smtp"), fmt.Sprintf("%s%d", f, phase), "alice@example.test", conns, n)
		maps.Copy(accepted, acc)
		maps.Copy(attempted, att)
		if len(acc) != conns*n {
			t.Fatalf("phase %d: %d of %d messages accepted; intake must answer 250 while the store has a %s fault\nserver log:\n%s", phase, len(acc), conns*n, f, logTail(s, 40))
		}
		if phase == 1 {
			// Nothing accepted during the fault can have reached the
			// store: the spool holds it all.
			if depth := inboundDepth(t, s); depth < len(acc) {
				t.Fatalf("spool holds %d messages after %d were accepted while the store had a %s fault", depth, len(acc), f)
			}
		}
	}
	waitFor(t, 120*time.Second, "the spool to drain", func() bool { return inboundDepth(t, s) == 0 })
	checkExactlyOnce(t, s, "alice@example.test", "alice-secret-1", accepted, attempted)
	t.Logf("%d messages accepted with the store %s for the middle third; all delivered exactly once", len(accepted), f)
}

func TestFaultSIGKILLDuringIngestAndDelivery(t *testing.T) {
	data, config := newData(t, "")
	roomForLoad(t, config)
	s := startServer(t, data, config)
	setupAccount(t, s, "alice@example.test", "alice-secret-1")

	accepted, attempted := map[string][]byte{}, map[string][]byte{}
	const kills = 20
	for round := range kills {
		if round > 0 {
			s = startServer(t, data, config)
		}
		killAt := time.Duration(200+rand.IntN(800)) * time.Millisecond
		killed := make(chan struct{})
		go func() {
			time.Sleep(killAt)
			s.kill()
			close(killed)
		}()
		// The spool delivers while the load goes on, so the kill lands in
		// the middle of both.
		acc, att := loadMany(s.addr("smtp"), fmt.Sprintf("k%d", round), "alice@example.test", 10, 1000)
		<-killed
		maps.Copy(accepted, acc)
		maps.Copy(attempted, att)
		t.Logf("kill %d after %v: %d accepted of %d attempted", round+1, killAt, len(acc), len(att))
	}

	s = startServer(t, data, config)
	waitFor(t, 120*time.Second, "the spool to drain", func() bool { return inboundDepth(t, s) == 0 })
	checkExactlyOnce(t, s, "alice@example.test", "alice-secret-1", accepted, attempted)
	t.Logf("%d kills; %d accepted, all delivered exactly once", kills, len(accepted))
}

func TestFaultSpoolDiskFull(t *testing.T) {
	data, config := newData(t, "")
	spool := filepath.Join(data, "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", spool).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("cannot mount a 3 MiB tmpfs for the spool (%v: %s); this test needs root", err, strings.TrimSpace(string(out)))
		}
		t.Fatalf("mounting a tmpfs on the spool: %v: %s", err, out)
	}
	// Cleanups run last first: the server is killed before the unmount,
	// and the unmount comes before the temporary directory is removed.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", spool).CombinedOutput(); err != nil {
			t.Errorf("unmounting %s: %v: %s", spool, err, out)
		}
	})
	s := startServer(t, data, config)
	setupAccount(t, s, "alice@example.test", "alice-secret-1")

	filler := filepath.Join(spool, "filler")
	fill(t, filler)

	send := func(id string) (int, string, []byte) {
		msg := testMessage(id, "bob@remote.test", "alice@example.test", "Sent while the spool disk is "+id+".")
		c := dialRaw(t, s.addr("smtp"))
		c.expect("EHLO client.e2e.test", 250, "")
		c.expect("MAIL FROM:<bob@remote.test>", 250, "")
		c.expect("RCPT TO:<alice@example.test>", 250, "")
		c.expect("DATA", 354, "")
		c.write(string(msg) + ".\r\n")
		code, text := c.reply()
		c.cmd("QUIT")
		return code, text, msg
	}
	if code, text, _ := send("full"); code != 452 || !strings.HasPrefix(text, "4.3.1") {
		t.Fatalf("message to a full spool: %d %s, want 452 4.3.1", code, text)
	}
	if depth := inboundDepth(t, s); depth != 0 {
		t.Fatalf("spool depth %d after a refused message", depth)
	}
	if n := countStored(t, s, "alice@example.test", "alice-secret-1", "INBOX"); n != 0 {
		t.Fatalf("%d messages stored after a refused message", n)
	}

	// Space comes back; intake must take mail again without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	code, text, msg := send("free again")
	if code != 250 {
		t.Fatalf("message after space was freed: %d %s, want 250", code, text)
	}
	waitFor(t, 30*time.Second, "delivery after the disk was freed", func() bool {
		return countStored(t, s, "alice@example.test", "alice-secret-1", "INBOX") == 1
	})
	checkDelivered(t, stored(t, s, "alice@example.test", "alice-secret-1", "INBOX"), [][]byte{msg}, "alice@example.test")
}

// fill writes to file until its file system has no space left.
func fill(t *testing.T, file string) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for size := 64 << 10; size > 0; size /= 4 {
		buf := make([]byte, size)
		for {
			if _, err = f.Write(buf); err != nil {
				break
			}
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("filling %s: %v", file, err)
		}
	}
}

// sessionTimeout bounds how long a test waits for an IMAP or POP3 answer:
// far more than the server's command timeout below, so a session that
// hangs fails the test instead of stalling it.
const sessionTimeout = 60 * time.Second

func TestFaultSessionsAnswerUnavailable(t *testing.T) {
	data, config := newData(t, "")
	// Store calls of a command give up after 3 s, so that a hung store is
	// answered quickly.
	setConfig(t, config, "imap", `command_timeout = "3s"`)
	s := startServer(t, data, config, "--allow-faults")
	setupAccount(t, s, "alice@example.test", "alice-secret-1")
	acc, _ := load(s.addr("smtp"), "before", "alice@example.test", 1, 1)
	if len(acc) != 1 {
		t.Fatal("the message before the outage was not accepted")
	}
	var sent [][]byte
	for _, m := range acc {
		sent = append(sent, m)
	}
	waitFor(t, 30*time.Second, "delivery", func() bool {
		return countStored(t, s, "alice@example.test", "alice-secret-1", "INBOX") == 1
	})

	// Both sessions are open and logged in before the outage.
	conn, err := net.DialTimeout("tcp", s.addr("imap"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	im := imapclient.New(conn, nil)
	defer im.Close()
	conn.SetDeadline(time.Now().Add(sessionTimeout))
	if err := im.Login("alice@example.test", "alice-secret-1").Wait(); err != nil {
		t.Fatalf("imap login: %v", err)
	}
	if _, err := im.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("imap select: %v", err)
	}
	pop := dialPOP3(t, s.addr("pop3"))
	pop.ok("USER alice@example.test")
	pop.ok("PASS alice-secret-1")
	pop.ok("STAT")

	imapStatus := func() (uint32, error) {
		conn.SetDeadline(time.Now().Add(sessionTimeout))
		st, err := im.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			return 0, err
		}
		return *st.NumMessages, nil
	}
	imapFetch := func() ([]byte, error) {
		conn.SetDeadline(time.Now().Add(sessionTimeout))
		section := &imap.FetchItemBodySection{Peek: true}
		msgs, err := im.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			return nil, err
		}
		if len(msgs) != 1 {
			return nil, fmt.Errorf("FETCH returned %d messages", len(msgs))
		}
		return msgs[0].FindBodySection(section), nil
	}
	unavailable := func(what string, err error) {
		t.Helper()
		var ie *imap.Error
		if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != imap.ResponseCodeUnavailable {
			t.Fatalf("IMAP %s during the outage: %v, want a tagged NO [UNAVAILABLE]", what, err)
		}
	}

	for _, f := range []string{"error", "hang"} {
		// The mailbox store and the blob store fail together, as when
		// the storage system under both is down.
		fault(t, s, "inject", "store", f)
		fault(t, s, "inject", "blob", f)

		_, err := imapStatus()
		unavailable("STATUS with the store "+f, err)
		_, err = imapFetch()
		unavailable("FETCH BODY[] with the store "+f, err)
		if line := pop.cmd("RETR 1"); !strings.HasPrefix(line, "-ERR [SYS/TEMP]") {
			t.Fatalf("POP3 RETR with the store %s: %q, want -ERR [SYS/TEMP]", f, line)
		}

		fault(t, s, "clear")

		// The same sessions work again, without reconnecting.
		if n, err := imapStatus(); err != nil || n != 1 {
			t.Fatalf("IMAP STATUS after the %s fault was cleared: %d messages, %v", f, n, err)
		}
		body, err := imapFetch()
		if err != nil {
			t.Fatalf("IMAP FETCH after the %s fault was cleared: %v", f, err)
		}
		checkDelivered(t, [][]byte{body}, sent, "alice@example.test")
		checkDelivered(t, [][]byte{pop.retr(1)}, sent, "alice@example.test")
	}
	pop.ok("QUIT")
}

// pop3Client is a line-level POP3 client.
type pop3Client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialPOP3(t *testing.T, addr string) *pop3Client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &pop3Client{t: t, conn: c, r: bufio.NewReader(c)}
	if line := p.line(); !strings.HasPrefix(line, "+OK") {
		t.Fatalf("POP3 greeting %q", line)
	}
	return p
}

func (p *pop3Client) line() string {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(sessionTimeout))
	line, err := p.r.ReadString('\n')
	if err != nil {
		p.t.Fatalf("POP3 read: %v", err)
	}
	return strings.TrimSuffix(line, "\r\n")
}

// cmd sends a command and returns the first line of the answer.
func (p *pop3Client) cmd(line string) string {
	p.t.Helper()
	p.conn.SetWriteDeadline(time.Now().Add(sessionTimeout))
	if _, err := p.conn.Write([]byte(line + "\r\n")); err != nil {
		p.t.Fatalf("POP3 write: %v", err)
	}
	return p.line()
}

func (p *pop3Client) ok(line string) {
	p.t.Helper()
	if got := p.cmd(line); !strings.HasPrefix(got, "+OK") {
		p.t.Fatalf("POP3 %s: %q", strings.Fields(line)[0], got)
	}
}

// retr returns message n, dot-unstuffed, as the server stored it.
func (p *pop3Client) retr(n int) []byte {
	p.t.Helper()
	if got := p.cmd(fmt.Sprintf("RETR %d", n)); !strings.HasPrefix(got, "+OK") {
		p.t.Fatalf("POP3 RETR %d: %q", n, got)
	}
	var b strings.Builder
	for {
		line := p.line()
		if line == "." {
			return []byte(b.String())
		}
		b.WriteString(strings.TrimPrefix(line, "."))
		b.WriteString("\r\n")
	}
}
