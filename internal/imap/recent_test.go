package imap

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"casella/internal/store"
)

// TestRecentDelivered checks that messages that arrive while no session
// has the mailbox selected are \Recent in the next session to select it
// (RFC 3501 section 2.3.2), and in that one only.
func TestRecentDelivered(t *testing.T) {
	e := newTestEnv(t)
	ctx := t.Context()
	key, err := e.blobs.Put(ctx, []byte(simpleMsg))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"one", "two"} {
		d := store.Delivery{Key: k, Account: 1, Message: store.NewMessage{Blob: key, Size: int64(len(simpleMsg))}}
		if _, err := e.store.Deliver(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	a, b := e.raw(t), e.raw(t)
	a.login()
	b.login()
	if u := a.ok("t STATUS INBOX (RECENT UNSEEN)"); u[0] != "* STATUS INBOX (RECENT 2 UNSEEN 2)" {
		t.Fatalf("status: %q", u)
	}
	if u := a.ok("x EXAMINE INBOX"); len(grep(u, "* 2 RECENT")) != 1 {
		t.Fatalf("examine takes nothing: %q", u)
	}
	u := a.ok("s SELECT INBOX")
	if len(grep(u, "* 2 RECENT")) != 1 || len(grep(u, "* OK [UNSEEN 1]")) != 1 {
		t.Fatalf("select after delivery: %q", u)
	}
	if u := a.ok("r SEARCH RECENT"); u[0] != "* SEARCH 1 2" {
		t.Fatalf("search recent: %q", u)
	}
	if u := a.ok("w SEARCH NEW"); u[0] != "* SEARCH 1 2" {
		t.Fatalf("search new: %q", u)
	}
	if u := b.ok("t STATUS INBOX (RECENT)"); u[0] != "* STATUS INBOX (RECENT 0)" {
		t.Fatalf("status after the claim: %q", u)
	}
	if u := b.ok("s SELECT INBOX"); len(grep(u, "* 0 RECENT")) != 1 {
		t.Fatalf("second session: %q", u)
	}
	a.ok(`f STORE 1 +FLAGS.SILENT (\Seen)`)
	if u := b.ok("s SELECT INBOX"); len(grep(u, "* OK [UNSEEN 2]")) != 1 {
		t.Fatalf("UNSEEN after the first was read: %q", u)
	}
	a.ok(`f STORE 2 +FLAGS.SILENT (\Seen)`)
	if u := b.ok("s SELECT INBOX"); len(grep(u, "* OK [UNSEEN")) != 0 {
		t.Fatalf("UNSEEN with every message seen: %q", u)
	}
	// IMAP4rev2 has neither RECENT nor UNSEEN (RFC 9051 appendix E).
	c := e.raw(t)
	c.login()
	c.ok("e ENABLE IMAP4rev2")
	a.ok(`f STORE 1 -FLAGS.SILENT (\Seen)`)
	if u := c.ok("s SELECT INBOX"); len(grep(u, "* OK [UNSEEN")) != 0 || len(grep(u, "RECENT")) != 0 {
		t.Fatalf("rev2 select: %q", u)
	}
}

// TestRecentAcrossNodes checks that two servers on one store, like two
// front ends of a cluster, never both give a message \Recent.
func TestRecentAcrossNodes(t *testing.T) {
	e := newTestEnv(t)
	second := &Server{Store: e.store, Blobs: e.blobs, Auth: e.srv.Auth, AllowPlainLoopback: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go second.Serve(l, false)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		second.Shutdown(ctx)
	})
	e2 := *e
	e2.addr = l.Addr().String()

	a, b := e.raw(t), e2.raw(t)
	a.login()
	b.login()
	a.ok("s SELECT INBOX")
	b.ok("s SELECT INBOX")
	c := e.raw(t)
	c.login()
	c.appendMsg("INBOX", "", simpleMsg)
	ua, ub := a.ok("n NOOP"), b.ok("n NOOP")
	got := strings.Join(grep(ua, "* 1 RECENT"), "") + strings.Join(grep(ub, "* 1 RECENT"), "")
	if got != "* 1 RECENT" {
		t.Fatalf("\\Recent given %q; node 1 %q, node 2 %q", got, ua, ub)
	}
}
