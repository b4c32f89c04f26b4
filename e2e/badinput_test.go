package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawSMTP is a line-level SMTP client, so that tests can send what no
// well-behaved client library would.
type rawSMTP struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawSMTP {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &rawSMTP{t: t, conn: c, r: bufio.NewReader(c)}
	if code, text := r.reply(); code != 220 {
		t.Fatalf("greeting %d %s", code, text)
	}
	return r
}

// reply reads one possibly multi-line reply.
func (r *rawSMTP) reply() (int, string) {
	r.t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var text []string
	for {
		line, err := r.r.ReadString('\n')
		if err != nil {
			r.t.Fatalf("reading reply: %v (so far %q)", err, text)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 4 {
			r.t.Fatalf("short reply line %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil {
			r.t.Fatalf("bad reply line %q", line)
		}
		text = append(text, line[4:])
		if line[3] == ' ' {
			return code, strings.Join(text, "\n")
		}
	}
}

func (r *rawSMTP) write(s string) {
	r.t.Helper()
	r.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := r.conn.Write([]byte(s)); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// cmd sends one command line and returns the reply.
func (r *rawSMTP) cmd(line string) (int, string) {
	r.t.Helper()
	r.write(line + "\r\n")
	return r.reply()
}

// expect sends a command and checks the reply's code and enhanced status.
func (r *rawSMTP) expect(line string, code int, enhanced string) {
	r.t.Helper()
	got, text := r.cmd(line)
	if got != code || (enhanced != "" && !strings.HasPrefix(text, enhanced)) {
		r.t.Fatalf("%.60q: got %d %s, want %d %s", line, got, text, code, enhanced)
	}
}

func (r *rawSMTP) startTLS() {
	r.t.Helper()
	r.expect("STARTTLS", 220, "")
	c := tls.Client(r.conn, insecureTLS)
	if err := c.Handshake(); err != nil {
		r.t.Fatalf("TLS handshake: %v", err)
	}
	r.conn = c
	r.r = bufio.NewReader(c)
}

func TestBadInputIsRefusedAndStoresNothing(t *testing.T) {
	data, config := newData(t, "")
	s := startServer(t, data, config)
	setupAccount(t, s, "alice@example.test", "alice-secret-1")
	mx := s.addr("smtp")

	t.Run("unknown recipient", func(t *testing.T) {
		c := dialRaw(t, mx)
		c.expect("EHLO client.e2e.test", 250, "")
		c.expect("MAIL FROM:<bob@remote.test>", 250, "")
		c.expect("RCPT TO:<nobody@example.test>", 550, "5.1.1")
	})
	t.Run("relay attempt", func(t *testing.T) {
		c := dialRaw(t, mx)
		c.expect("EHLO client.e2e.test", 250, "")
		c.expect("MAIL FROM:<bob@remote.test>", 250, "")
		c.expect("RCPT TO:<victim@elsewhere.test>", 550, "5.7.1")
	})
	t.Run("oversized announced", func(t *testing.T) {
		c := dialRaw(t, mx)
		c.expect("EHLO client.e2e.test", 250, "")
		c.expect("MAIL FROM:<bob@remote.test> SIZE=20000000", 552, "5.3.4")
	})
	t.Run("oversized sent", func(t *testing.T) {
		c := dialRaw(t, mx)
		c.expect("EHLO client.e2e.test", 250, "")
		c.expect("MAIL FROM:<bob@remote.test>", 250, "")
		c.expect("RCPT TO:<alice@example.test>", 250, "")
		c.expect("DATA", 354, "")
		line := strings.Repeat("x", 998) + "\r\n"
		c.write("Subject: big\r\n\r\n")
		for range 11 * 1024 * 1024 / len(line) {
			c.write(line)
		}
		c.write(".\r\n")
		if code, text := c.reply(); code != 552 {
			t.Fatalf("oversized DATA: %d %s, want 552", code, text)
		}
	})
	t.Run("too many recipients", func(t *testing.T) {
		c := dialRaw(t, mx)
		c.expect("EHLO client.e2e.test", 250, "")
		c.expect("MAIL FROM:<bob@remote.test>", 250, "")
		for range 50 {
			c.expect("RCPT TO:<alice@example.test>", 250, "")
		}
		c.expect("RCPT TO:<alice@example.test>", 452, "4.5.3")
		c.expect("RSET", 250, "")
	})
	t.Run("bare LF smuggling", func(t *testing.T) {
		c := dialRaw(t, mx)
		c.expect("EHLO client.e2e.test", 250, "")
		c.expect("MAIL FROM:<bob@remote.test>", 250, "")
		c.expect("RCPT TO:<alice@example.test>", 250, "")
		c.expect("DATA", 354, "")
		// A bare "\n.\n" must not end the message, and the smuggled
		// commands behind it must not become a second message.
		c.write("Subject: smuggle\r\n\r\nfirst\n.\nMAIL FROM:<evil@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsecond\r\n.\r\n")
		code, text := c.reply()
		if code/100 != 5 {
			t.Fatalf("message with bare LF: %d %s, want a 5xx refusal", code, text)
		}
	})
	t.Run("garbage commands", func(t *testing.T) {
		c := dialRaw(t, mx)
		c.expect("EHLO client.e2e.test", 250, "")
		if code, _ := c.cmd("FROBNICATE now"); code/100 != 5 {
			t.Fatalf("garbage command: %d, want 5xx", code)
		}
		if code, _ := c.cmd("\x00\x01\x02\xff\xfe"); code/100 != 5 {
			t.Fatalf("binary garbage: %d, want 5xx", code)
		}
		c.expect("NOOP", 250, "")
	})
	t.Run("overlong command", func(t *testing.T) {
		// The reply must be a 5xx; the server may then close the
		// connection, as go-smtp does, since the rest of the line is lost.
		c := dialRaw(t, mx)
		c.expect("EHLO client.e2e.test", 250, "")
		if code, text := c.cmd("MAIL FROM:<" + strings.Repeat("a", 5000) + "@remote.test>"); code/100 != 5 {
			t.Fatalf("overlong command: %d %s, want 5xx", code, text)
		}
	})
	t.Run("AUTH before TLS", func(t *testing.T) {
		c := dialRaw(t, s.addr("submission"))
		_, ehlo := c.cmd("EHLO client.e2e.test")
		if strings.Contains(ehlo, "AUTH") {
			t.Errorf("AUTH advertised before TLS: %s", ehlo)
		}
		plain := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.test\x00alice-secret-1"))
		if code, text := c.cmd("AUTH PLAIN " + plain); code != 538 && code != 530 && code != 503 {
			t.Fatalf("AUTH before TLS: %d %s, want 538", code, text)
		}
	})
	t.Run("wrong passwords", func(t *testing.T) {
		c := dialRaw(t, s.addr("submission"))
		c.expect("EHLO client.e2e.test", 250, "")
		c.startTLS()
		c.expect("EHLO client.e2e.test", 250, "")
		for i := range 4 {
			plain := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "\x00alice@example.test\x00wrong-%d", i))
			c.expect("AUTH PLAIN "+plain, 535, "5.7.8")
		}
		c.expect("MAIL FROM:<alice@example.test>", 530, "")
	})
	t.Run("submission from a foreign address", func(t *testing.T) {
		c := dialRaw(t, s.addr("submission"))
		c.expect("EHLO client.e2e.test", 250, "")
		c.startTLS()
		c.expect("EHLO client.e2e.test", 250, "")
		plain := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.test\x00alice-secret-1"))
		c.expect("AUTH PLAIN "+plain, 235, "")
		c.expect("MAIL FROM:<ceo@bank.test>", 553, "5.7.1")
	})

	// Nothing of the above may have been stored or queued.
	time.Sleep(time.Second)
	if n := countStored(t, s, "alice@example.test", "alice-secret-1", "INBOX"); n != 0 {
		t.Fatalf("%d messages stored from refused input", n)
	}
	if out := s.casella("queue", "list"); strings.Contains(out, "@") {
		t.Fatalf("queue not empty after refused input:\n%s", out)
	}
}

func TestUnusableDataDirectoryAndConfig(t *testing.T) {
	// A data directory that cannot be created.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o644)
	out, err := runCasella(filepath.Join(file, "data"), "", "domain", "list")
	if err == nil || !strings.Contains(out, "data") {
		t.Fatalf("unusable data directory: err %v, output %q; want a failure naming the data directory", err, out)
	}

	// A malformed configuration file names the line.
	config := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(config, []byte("hostname = \"x\"\n[smtp]\nlisten = \n"), 0o644)
	out, err = runCasella(t.TempDir(), config, "domain", "list")
	if err == nil || !strings.Contains(out, "3") {
		t.Fatalf("malformed config: err %v, output %q; want a failure naming line 3", err, out)
	}

	// An unknown key names the key.
	os.WriteFile(config, []byte("hostname = \"x\"\n[smtp]\nlistne = \"127.0.0.1:25\"\n"), 0o644)
	out, err = runCasella(t.TempDir(), config, "domain", "list")
	if err == nil || !strings.Contains(out, "listne") {
		t.Fatalf("unknown key: err %v, output %q; want a failure naming the key", err, out)
	}
}
