package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// TestMXSmuggling sends the end-of-data variants of the 2023 "SMTP
// smuggling" attacks: a message whose body hides a second transaction
// behind a line ending other than CRLF.CRLF. Each must be refused whole,
// and the session must go on with the next real message.
func TestMXSmuggling(t *testing.T) {
	smuggled := "MAIL FROM:<admin@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nFrom: admin@example.test\r\n\r\nforged\r\n"
	for name, end := range map[string]string{
		"LF.LF":     "\n.\n",
		"CRLF.LF":   "\r\n.\n",
		"LF.CRLF":   "\n.\r\n",
		"CR.CR":     "\r.\r",
		"bare LF":   "\nmore\r\n",
		"CR in row": "\r\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			e := newTestEnv(t, nil)
			rc := dialRaw(t, e.mx)
			rc.cmd("EHLO client.test", "250")
			rc.cmd("MAIL FROM:<s@remote.test>", "250")
			rc.cmd("RCPT TO:<alice@example.test>", "250")
			rc.cmd("DATA", "354")
			rc.send("Subject: first\r\n\r\nbody" + end + smuggled + ".\r\n")
			rc.expect("550 5.5.2")
			if n := len(e.spool.all()); n != 0 {
				t.Fatalf("%d messages stored from smuggling data", n)
			}
			// The session continues with a clean message.
			rc.cmd("MAIL FROM:<s@remote.test>", "250")
			rc.cmd("RCPT TO:<alice@example.test>", "250")
			rc.cmd("DATA", "354")
			rc.send("Subject: clean\r\n\r\nok\r\n.\r\n")
			rc.expect("250")
			msgs := e.spool.all()
			if len(msgs) != 1 {
				t.Fatalf("%d messages, want the clean one", len(msgs))
			}
			splitReceived(t, msgs[0].data, "Subject: clean\r\n\r\nok\r\n")
			if strings.Contains(string(msgs[0].data), "forged") {
				t.Fatal("smuggled message stored")
			}
		})
	}
}

// TestMXDotCR covers CRLF "." CR followed by other text. go-smtp's DATA
// reader drops the dot and the CR, so the session never sees this bare
// CR; the connection's guard does, in the clear and after STARTTLS, and
// the message is refused like every other bare CR.
func TestMXDotCR(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tls), func(t *testing.T) {
			e := newTestEnv(t, nil)
			rc := dialRaw(t, e.mx)
			rc.cmd("EHLO client.test", "250")
			if tls {
				rc.startTLS()
				rc.cmd("EHLO client.test", "250")
			}
			rc.cmd("MAIL FROM:<s@remote.test>", "250")
			rc.cmd("RCPT TO:<alice@example.test>", "250")
			rc.cmd("DATA", "354")
			rc.send("Subject: first\r\n\r\nbody\r\n.\rMAIL FROM:<admin@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nforged\r\n.\r\n")
			rc.expect("550 5.5.2")
			// The next message is judged on its own.
			rc.cmd("MAIL FROM:<s@remote.test>", "250")
			rc.cmd("RCPT TO:<alice@example.test>", "250")
			rc.cmd("DATA", "354")
			rc.send("Subject: clean\r\n\r\n..dot-stuffed\r\n.\r\n")
			rc.expect("250")
			msgs := e.spool.all()
			if len(msgs) != 1 {
				t.Fatalf("%d messages stored, want the clean one", len(msgs))
			}
			splitReceived(t, msgs[0].data, "Subject: clean\r\n\r\n.dot-stuffed\r\n")
		})
	}
}

func TestMXBareLFInBDAT(t *testing.T) {
	e := newTestEnv(t, nil)
	rc := dialRaw(t, e.mx)
	rc.cmd("EHLO client.test", "250")
	rc.cmd("MAIL FROM:<s@remote.test>", "250")
	rc.cmd("RCPT TO:<alice@example.test>", "250")
	chunk := "Subject: x\n\nbody\n.\n"
	rc.send("BDAT 19 LAST\r\n" + chunk)
	rc.expect("550 5.5.2")
	rc.cmd("NOOP", "250")
	if n := len(e.spool.all()); n != 0 {
		t.Fatalf("%d messages", n)
	}
}

func TestCheckLineEndings(t *testing.T) {
	for in, ok := range map[string]bool{
		"":                 true,
		"a\r\nb\r\n":       true,
		"no line end":      true,
		"a\nb":             false,
		"a\rb":             false,
		"\n":               false,
		"a\r":              false,
		"a\r\r\n":          false,
		"a\r\n\n":          false,
		"\r\n.\r\n\r\n.\n": false,
	} {
		if err := checkLineEndings([]byte(in)); (err == nil) != ok {
			t.Errorf("checkLineEndings(%q) = %v, want ok %v", in, err, ok)
		}
	}
}
