package smtp

import (
	"encoding/base64"
	"io"
	"strings"
	"testing"
	"time"
)

// Addresses with control characters or invalid UTF-8 are refused before
// anything looks at them; they used to reach Return-Path raw.
func TestAddressHygiene(t *testing.T) {
	e := newTestEnv(t, nil)
	rc := dialRaw(t, e.mx)
	rc.cmd("EHLO client.test", "250")
	for _, from := range []string{"a\x00b@remote.test", "a\xffb@remote.test", "a\x01b@remote.test", "a\x7fb@remote.test"} {
		rc.cmd("MAIL FROM:<"+from+"> SMTPUTF8", "501 5.")
	}
	rc.cmd("MAIL FROM:<s@remote.test>", "250")
	for _, to := range []string{"ali\x00ce@example.test", "alice\xc3@example.test", "al\tice@example.test"} {
		rc.cmd("RCPT TO:<"+to+">", "501 5.")
	}
	rc.cmd("RCPT TO:<alice@example.test>", "250")
	rc.cmd("DATA", "354")
	rc.send("Subject: ok\r\n\r\nok\r\n.\r\n")
	rc.expect("250")
	if n := len(e.spool.all()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

// A HELO name with a bare CR is refused and never echoed, also in a
// repeated EHLO, which go-smtp answers without asking the session.
func TestHelloHygiene(t *testing.T) {
	e := newTestEnv(t, nil)
	rc := dialRaw(t, e.mx)
	if r := rc.cmd("EHLO bad\rname.test", "501 5.5.2"); strings.Contains(r, "name.test") {
		t.Fatalf("bad name echoed: %q", r)
	}
	rc.cmd("MAIL FROM:<s@remote.test>", "502")
	rc.cmd("EHLO client.test", "250")

	if r := rc.cmd("EHLO evil\rinjected", "501 5.5.2"); strings.Contains(r, "injected") {
		t.Fatalf("bad name echoed: %q", r)
	}
	if rest, _ := io.ReadAll(rc.r); strings.Contains(string(rest), "injected") {
		t.Fatalf("bad name echoed after the refusal: %q", rest)
	}
}

// When the command timeout fires in the middle of a line, the session ends
// with 421 and the partial command is not executed.
func TestTimeoutDoesNotExecutePartialLine(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.CommandTimeout = 300 * time.Millisecond })
	rc := dialRaw(t, e.mx)
	rc.cmd("EHLO client.test", "250")
	rc.cmd("MAIL FROM:<s@remote.test>", "250")
	rc.send("RCPT TO:<alice@example.test>") // no CRLF
	rc.expect("421 4.4.2")
	if rest, _ := io.ReadAll(rc.r); len(rest) != 0 {
		t.Fatalf("after 421: %q, want the connection closed", rest)
	}

	// A command go-smtp handles alone still ends the session with 421.
	rc = dialRaw(t, e.mx)
	rc.cmd("EHLO client.test", "250")
	rc.send("NOOP")
	r := rc.reply()
	if strings.HasPrefix(r, "250") {
		r = rc.reply()
	}
	if !strings.HasPrefix(r, "421") {
		t.Fatalf("reply %q, want 421", r)
	}
}

// Submission refuses a From: header naming another account; the account's
// own address, its +tags and an alias that delivers to it pass.
func TestSubmissionHeaderFrom(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.CheckHeaderFrom = true })
	rc := dialRaw(t, e.submission)
	rc.cmd("EHLO client.test", "250")
	rc.startTLS()
	rc.cmd("EHLO client.test", "250")
	rc.cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00alice@example.test\x00alice-pw")), "235")
	send := func(header, want string) {
		t.Helper()
		rc.cmd("MAIL FROM:<alice@example.test>", "250")
		rc.cmd("RCPT TO:<bob@example.test>", "250")
		rc.cmd("DATA", "354")
		rc.send(header + "Subject: x\r\n\r\nbody\r\n.\r\n")
		rc.expect(want)
	}
	send("From: Bob <bob@example.test>\r\n", "550 5.7.1")
	send("From: alice@example.test, Bob <bob@example.test>\r\n", "550 5.7.1")
	send("From: someone@remote.test\r\n", "550 5.7.1")
	send("From: <not an address\r\n", "550 5.6.0")
	send("From: Alice <ALICE@example.test>\r\n", "250")
	send("From: alice+news@example.test\r\n", "250")
	send("From: The team <team@example.test>\r\n", "250")
	if n := len(e.spool.all()); n != 3 {
		t.Fatalf("%d messages stored, want 3", n)
	}
}
