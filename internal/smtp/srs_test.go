package smtp

import (
	"strings"
	"testing"
	"time"

	"casella/internal/srs"
)

// A bounce to an SRS address of ours goes on to the sender it encodes; a
// forged, expired or malformed one is refused with 550, and an SRS
// address of another domain is relaying as ever.
func TestRcptSRS(t *testing.T) {
	rw := &srs.Rewriter{Secrets: [][]byte{[]byte("secret")}}
	e := newTestEnv(t, func(c *Config) { c.SRS = rw })
	valid, err := rw.Forward("carol@remote.example", "example.test")
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := rw.Forward("alice@example.test", "other.example")
	old := &srs.Rewriter{Secrets: rw.Secrets, Now: func() time.Time { return time.Now().Add(-30 * 24 * time.Hour) }}
	expired, _ := old.Forward("carol@remote.example", "example.test")
	forged := strings.Replace(valid, "carol", "mallory", 1)

	c := dialRaw(t, e.mx)
	c.cmd("EHLO client.remote.example", "250")
	c.cmd("MAIL FROM:<>", "250")
	c.cmd("RCPT TO:<"+valid+">", "250")
	if got := c.cmd("RCPT TO:<"+forged+">", "550"); !strings.Contains(got, "5.1.1 Invalid SRS address") || !strings.Contains(got, "not made here") {
		t.Errorf("forged: %s", got)
	}
	if got := c.cmd("RCPT TO:<"+expired+">", "550"); !strings.Contains(got, "expired") {
		t.Errorf("expired: %s", got)
	}
	c.cmd("RCPT TO:<SRS0=x=y@example.test>", "550")
	// Made by another domain's forwarder: not ours to reverse.
	c.cmd("RCPT TO:<"+strings.Replace(foreign, "other.example", "elsewhere.example", 1)+">", "550 5.7.1")
	c.cmd("DATA", "354")
	c.send("From: MAILER-DAEMON@remote.example\r\nSubject: Undelivered\r\n\r\nbounce\r\n.\r\n")
	c.expect("250")
	got := e.outbound.all()
	if len(got) != 1 || len(got[0].env.Recipients) != 1 || got[0].env.Recipients[0].Address != "carol@remote.example" || got[0].env.From != "" {
		t.Fatalf("relayed %+v, want the bounce to carol@remote.example", got)
	}
	if len(e.spool.all()) != 0 {
		t.Fatal("a bounce to an SRS address was delivered locally")
	}
}
