package imap

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
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

// TestRecentAppended checks that a message a session appends to its
// selected mailbox is \Recent in that session and no other, whether the
// append claimed it or, with a delivery unclaimed below it, the sync after
// the command did (RFC 3501 section 2.3.2).
func TestRecentAppended(t *testing.T) {
	var claims claimCounter
	e := newTestEnv(t, func(s *Server) {
		claims.Store = s.Store
		s.Store = &claims
	})
	a, b := e.raw(t), e.raw(t)
	a.login()
	b.login()
	a.ok("s SELECT INBOX")
	u := a.ok("a APPEND INBOX {4+}\r\nHi\r\n")
	if len(grep(u, "* 1 EXISTS")) != 1 || len(grep(u, "* 1 RECENT")) != 1 {
		t.Fatalf("append to the selected mailbox: %q", u)
	}
	if u := a.ok("f FETCH 1 (FLAGS)"); u[0] != `* 1 FETCH (FLAGS (\Recent))` {
		t.Fatalf("flags of the appended message: %q", u)
	}
	if n := claims.n.Load(); n != 0 {
		t.Fatalf("%d claims besides the append's", n)
	}
	mb, err := e.store.Mailbox(t.Context(), 1, store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	if mb.RecentMark != 1 {
		t.Fatalf("recent mark %d after the append, want 1: the append claims", mb.RecentMark)
	}
	if u := b.ok("t STATUS INBOX (RECENT)"); u[0] != "* STATUS INBOX (RECENT 0)" {
		t.Fatalf("status in another session: %q", u)
	}

	// A delivery between two commands of the session is below the next
	// append: the append leaves both to the sync's claim.
	key, err := e.blobs.Put(t.Context(), []byte(simpleMsg))
	if err != nil {
		t.Fatal(err)
	}
	d := store.Delivery{Key: "d", Account: 1, Message: store.NewMessage{Blob: key, Size: int64(len(simpleMsg))}}
	if _, err := e.store.Deliver(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	u = a.ok("a APPEND INBOX {4+}\r\nHo\r\n")
	if len(grep(u, "* 3 EXISTS")) != 1 || len(grep(u, "* 3 RECENT")) != 1 {
		t.Fatalf("append above a delivery: %q", u)
	}
	if u := a.ok("r SEARCH RECENT"); u[0] != "* SEARCH 1 2 3" {
		t.Fatalf("search recent: %q", u)
	}
	if n := claims.n.Load(); n != 1 {
		t.Fatalf("%d claims after an append above a delivery, want 1", n)
	}
	if u := b.ok("s SELECT INBOX"); len(grep(u, "* 0 RECENT")) != 1 {
		t.Fatalf("another session selects: %q", u)
	}
	// Appended to a mailbox the session has not selected, a message is
	// left for the next session to select it.
	u = b.ok("a APPEND Drafts {4+}\r\nHa\r\n")
	if u := a.ok("t STATUS Drafts (RECENT)"); u[0] != "* STATUS Drafts (RECENT 1)" {
		t.Fatalf("status of another mailbox: %q", u)
	}
}

// claimCounter counts the store's ClaimRecent calls.
type claimCounter struct {
	store.Store
	n atomic.Int32
}

func (c *claimCounter) ClaimRecent(ctx context.Context, acct store.Account, mailbox int64, upTo uint32) (uint32, error) {
	c.n.Add(1)
	return c.Store.ClaimRecent(ctx, acct, mailbox, upTo)
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
