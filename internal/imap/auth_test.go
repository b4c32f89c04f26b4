package imap

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

func TestLogin(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.expect("a LOGIN "+testUser+" wrong", "a NO [AUTHENTICATIONFAILED]")
	rc.expect("b SELECT INBOX", "b BAD")
	u, tagged := rc.cmd("c LOGIN " + testUser + ` "` + testPass + `"`)
	if len(u) != 0 || !strings.HasPrefix(tagged, "c OK [CAPABILITY IMAP4rev1") {
		t.Fatalf("login: %q %q", u, tagged)
	}
	rc.expect("d LOGIN "+testUser+" x", "d BAD")
}

func TestAuthenticatePlain(t *testing.T) {
	e := newTestEnv(t)
	c, err := imapclient.DialInsecure(e.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(sasl.NewPlainClient("", testUser, "bad")); err == nil {
		t.Fatal("bad password accepted")
	}
	if err := c.Authenticate(sasl.NewPlainClient("", testUser, testPass)); err != nil {
		t.Fatalf("authenticate: %v", err)
	}

	// Without SASL-IR: the response follows an empty continuation.
	rc := e.raw(t)
	rc.send("a AUTHENTICATE PLAIN\r\n")
	if l := rc.line(); l != "+ " {
		t.Fatalf("continuation %q", l)
	}
	rc.send("AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldCBwYXNzd29yZA==\r\n")
	if _, tagged := rc.until("a"); !strings.HasPrefix(tagged, "a OK") {
		t.Fatalf("authenticate: %q", tagged)
	}
	rc2 := e.raw(t)
	rc2.send("a AUTHENTICATE PLAIN\r\n")
	rc2.line()
	rc2.send("*\r\n")
	if _, tagged := rc2.until("a"); !strings.HasPrefix(tagged, "a BAD") {
		t.Fatalf("cancel: %q", tagged)
	}
	rc2.ok("b NOOP")
}

func TestPlaintextRefused(t *testing.T) {
	e := newTestEnv(t, func(s *Server) {
		s.AllowPlainLoopback = false
		s.TLS = &tls.Config{}
	})
	rc := e.raw(t)
	u := rc.ok("a CAPABILITY")
	if !strings.Contains(u[0], "LOGINDISABLED") || !strings.Contains(u[0], "STARTTLS") || strings.Contains(u[0], "AUTH=") {
		t.Fatalf("capability before TLS = %q", u[0])
	}
	rc.expect("b LOGIN "+testUser+` "`+testPass+`"`, "b NO [PRIVACYREQUIRED]")
	rc.expect("c AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldCBwYXNzd29yZA==", "c NO [PRIVACYREQUIRED]")
}

func TestIDAndEnable(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	u := rc.ok(`a ID ("name" "test" "version" NIL)`)
	if len(u) != 1 || !strings.HasPrefix(u[0], `* ID ("name" "Casella")`) {
		t.Fatalf("id = %q", u)
	}
	rc.ok("b ID NIL")
	rc.login()
	u = rc.ok("c ENABLE CONDSTORE X-UNKNOWN")
	if len(u) != 1 || u[0] != "* ENABLED CONDSTORE" {
		t.Fatalf("enable = %q", u)
	}
}
