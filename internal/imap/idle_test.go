package imap

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// TestUpdatesBetweenSessions checks that one session sees another's
// new messages, flag changes and expunges at the points RFC 9051 section
// 7.5.1 allows.
func TestUpdatesBetweenSessions(t *testing.T) {
	e := newTestEnv(t)
	a, b := e.raw(t), e.raw(t)
	a.login()
	b.login()
	a.appendMsg("INBOX", "", simpleMsg)
	a.appendMsg("INBOX", "", simpleMsg)
	a.ok("s SELECT INBOX")
	b.ok("s SELECT INBOX")

	b.appendMsg("INBOX", "", simpleMsg)
	b.ok(`f STORE 1 +FLAGS.SILENT (\Seen)`)
	u := a.ok("n NOOP")
	// b saw the new message first, so it is not \Recent for a; the two
	// before it arrived while no session had INBOX selected.
	if strings.Join(u, "\n") != "* 3 EXISTS\n* 2 RECENT\n"+`* 1 FETCH (UID 1 FLAGS (\Seen \Recent))` {
		t.Fatalf("updates after NOOP:\n%s", strings.Join(u, "\n"))
	}

	b.ok(`g STORE 2 +FLAGS.SILENT (\Deleted)`)
	b.ok("x EXPUNGE")
	// No EXPUNGE during FETCH: sequence numbers stay as the client knows them.
	u = a.ok("h FETCH 3 (UID)")
	if strings.Join(u, "\n") != "* 3 FETCH (UID 3)" {
		t.Fatalf("fetch during pending expunge:\n%s", strings.Join(u, "\n"))
	}
	u = a.ok("i UID FETCH 3 (UID)")
	if strings.Join(u, "\n") != "* 2 EXPUNGE\n* 2 FETCH (UID 3)" && strings.Join(u, "\n") != "* 3 FETCH (UID 3)\n* 2 EXPUNGE" {
		t.Fatalf("uid fetch after expunge:\n%s", strings.Join(u, "\n"))
	}
	u = a.ok("j NOOP")
	if len(u) != 0 {
		t.Fatalf("repeated updates: %q", u)
	}
}

func TestIdle(t *testing.T) {
	e := newTestEnv(t)
	other := e.raw(t)
	other.login()
	other.appendMsg("INBOX", "", simpleMsg)

	expunges := make(chan uint32, 10)
	exists := make(chan uint32, 10)
	c := e.client(t, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { expunges <- seq },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		},
	}})
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatalf("idle: %v", err)
	}
	other.appendMsg("INBOX", "", simpleMsg)
	select {
	case n := <-exists:
		if n != 2 {
			t.Fatalf("EXISTS %d", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no EXISTS pushed during IDLE")
	}
	other.ok("s SELECT INBOX")
	other.ok(`f STORE 1 +FLAGS.SILENT (\Deleted)`)
	other.ok("x EXPUNGE")
	select {
	case n := <-expunges:
		if n != 1 {
			t.Fatalf("EXPUNGE %d", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no EXPUNGE pushed during IDLE")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatalf("idle done: %v", err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
}
