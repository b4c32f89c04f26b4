package imap

import (
	"fmt"
	"strings"
	"testing"
)

func TestCreateSpecialUse(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	if u := rc.ok("c CAPABILITY"); !strings.Contains(u[0], " CREATE-SPECIAL-USE ") {
		t.Fatalf("capability: %q", u)
	}
	rc.ok(`a CREATE "Old mail" (USE (\archive))`)
	if u := rc.ok(`l LIST "" "Old mail"`); u[0] != `* LIST (\HasNoChildren \Archive) "/" "Old mail"` {
		t.Fatalf("list: %q", u)
	}
	rc.expect(`b CREATE Other (USE (\Important))`, "b NO [USEATTR]")
	rc.expect(`d CREATE Other (USE (\Sent \Trash))`, "d NO [USEATTR]")
	rc.expect(`f CREATE Other (COLOR (red))`, "f BAD")
}

func TestUTF8Accept(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	msg := "From: José <jose@example.org>\r\nSubject: Olá\r\n\r\nbody\r\n"
	rc.send(fmt.Sprintf("a APPEND INBOX UTF8 (~{%d+}\r\n%s)\r\n", len(msg), msg))
	if _, tagged := rc.until("a"); !strings.HasPrefix(tagged, "a BAD") {
		t.Fatalf("UTF8 append before ENABLE: %q", tagged)
	}
	if u := rc.ok("e ENABLE UTF8=ACCEPT"); u[0] != "* ENABLED UTF8=ACCEPT" {
		t.Fatalf("enable: %q", u)
	}
	rc.ok(`c CREATE "Café&Co"`) // UTF-8 as it is: "&" is no UTF-7 shift now
	rc.send(fmt.Sprintf("b APPEND \"Café&Co\" UTF8 (~{%d+}\r\n%s)\r\n", len(msg), msg))
	if _, tagged := rc.until("b"); !strings.HasPrefix(tagged, "b OK [APPENDUID") {
		t.Fatalf("UTF8 append: %q", tagged)
	}
	u := rc.ok(`s SELECT "Café&Co"`)
	if len(grep(u, "* 1 EXISTS")) != 1 {
		t.Fatalf("select: %q", u)
	}
	if u := rc.ok("f FETCH 1 (ENVELOPE)"); !strings.Contains(u[0], `"Olá"`) || !strings.Contains(u[0], `"José"`) {
		t.Fatalf("envelope: %q", u)
	}
	if u := rc.ok(`l LIST "" Caf*`); u[0] != `* LIST (\HasNoChildren) "/" "Café&Co"` {
		t.Fatalf("list: %q", u)
	}
}

func TestAppendLimit(t *testing.T) {
	e := newTestEnv(t, func(s *Server) { s.MaxLiteral = 1000 })
	rc := e.raw(t)
	if u := rc.ok("c CAPABILITY"); !strings.Contains(u[0], " APPENDLIMIT=1000 ") {
		t.Fatalf("capability: %q", u)
	}
	rc.login()
	if u := rc.ok("s STATUS INBOX (APPENDLIMIT)"); u[0] != "* STATUS INBOX (APPENDLIMIT 1000)" {
		t.Fatalf("status: %q", u)
	}
	rc.expect("a APPEND INBOX {1001}", "a NO [TOOBIG]")
	// A literal8 is accepted too (RFC 3516 section 4.4).
	rc.send(fmt.Sprintf("b APPEND INBOX ~{%d+}\r\n%s\r\n", len(simpleMsg), simpleMsg))
	if _, tagged := rc.until("b"); !strings.HasPrefix(tagged, "b OK") {
		t.Fatalf("literal8 append: %q", tagged)
	}
}
