package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"casella/internal/blob"
	"casella/internal/blob/fs"
	"casella/internal/faults"
	"casella/internal/spool"
	"casella/internal/store"
	"casella/internal/store/sqlite"
)

type env struct {
	store store.Store
	blobs blob.Store
	inj   *faults.Injector
	spool *spool.Spool
	d     *Deliverer
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// setup opens a real SQLite store and filesystem blob store, wrapped for
// fault injection, and a spool.
func setup(t testing.TB, opts spool.Options) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bs, err := fs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	inj := faults.New(nil)
	opts.Logger = quiet()
	sp, err := spool.Open(filepath.Join(dir, "spool"), opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: faults.Store(st, inj), blobs: faults.Blobs(bs, inj), inj: inj, spool: sp}
	e.d = &Deliverer{Store: e.store, Blobs: e.blobs, Logger: quiet()}
	return e
}

func (e *env) enqueue(t testing.TB, from string, rcpts []spool.Recipient, data string) string {
	t.Helper()
	id, err := e.spool.Enqueue(context.Background(), spool.Envelope{From: from, Recipients: rcpts, Received: time.Now()}, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// run runs the spool's loop with the Deliverer until the test ends.
func (e *env) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.spool.Run(ctx, e.d) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// drain waits until the loop has delivered everything; the bound only
// stops a broken test.
func (e *env) drain(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := e.spool.State()
		if e.spool.Stats().Depth == 0 && st.Running && st.Pending == 0 && st.InFlight == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("spool did not drain: %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
}

type stored struct {
	uid     uint32
	subject string
	raw     []byte
}

// mailbox returns the messages of a mailbox in UID order with their bytes.
func (e *env) mailbox(t *testing.T, acct int64, name string) []stored {
	t.Helper()
	ctx := context.Background()
	mb, err := e.store.Mailbox(ctx, store.Account(acct), name)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []stored
	err = e.store.Messages(ctx, store.Account(acct), store.Query{Mailbox: mb.ID, WithMeta: true}, func(m *store.Message) error {
		raw, err := e.blobs.Get(ctx, m.Blob)
		if err != nil {
			return err
		}
		if m.Size != int64(len(raw)) {
			return fmt.Errorf("uid %d: size %d, blob has %d bytes", m.UID, m.Size, len(raw))
		}
		msgs = append(msgs, stored{m.UID, m.Meta.Envelope.Subject, raw})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func TestEndToEnd(t *testing.T) {
	e := setup(t, spool.Options{})
	ctx := context.Background()
	if err := e.store.EnsureAccount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateMailbox(ctx, 1, "Lists", ""); err != nil {
		t.Fatal(err)
	}
	one := "From: a@example.org\r\nSubject: one\r\n\r\nHello.\r\n"
	two := "Subject: two\r\n\r\nFor both.\r\n"
	e.enqueue(t, "a@example.org", []spool.Recipient{{Address: "u1@example.com", Account: 1}}, one)
	e.enqueue(t, "", []spool.Recipient{
		{Address: "u1+lists@example.com", Account: 1, Tag: "Lists"},
		{Address: "u2+nosuch@example.com", Account: 2, Tag: "nosuch"},
	}, two)
	e.run(t)
	e.drain(t)

	inbox := e.mailbox(t, 1, store.Inbox)
	if len(inbox) != 1 || inbox[0].subject != "one" {
		t.Fatalf("account 1 INBOX: %+v", inbox)
	}
	if want := "Return-Path: <a@example.org>\r\nDelivered-To: u1@example.com\r\n" + one; string(inbox[0].raw) != want {
		t.Fatalf("stored bytes\n%q\nwant\n%q", inbox[0].raw, want)
	}
	lists := e.mailbox(t, 1, "Lists")
	if len(lists) != 1 || string(lists[0].raw) != "Return-Path: <>\r\nDelivered-To: u1+lists@example.com\r\n"+two {
		t.Fatalf("account 1 Lists: %+v", lists)
	}
	// A tag naming no mailbox delivers to INBOX.
	inbox2 := e.mailbox(t, 2, store.Inbox)
	if len(inbox2) != 1 || inbox2[0].subject != "two" {
		t.Fatalf("account 2 INBOX: %+v", inbox2)
	}
}

// A crash after the store committed but before the spool removed the
// entry replays it; the message is stored once.
func TestReplayStoresOnce(t *testing.T) {
	e := setup(t, spool.Options{})
	ctx := context.Background()
	id := e.enqueue(t, "a@example.org", []spool.Recipient{{Address: "u@example.com", Account: 5}}, "Subject: once\r\n\r\n")
	entry, data, err := e.spool.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// The loop's first attempt, whose removal the crash prevented.
	if err := e.d.Handle(ctx, &entry, data, 0); err != nil {
		t.Fatal(err)
	}
	e.run(t)
	e.drain(t)
	if err := e.d.Handle(ctx, &entry, data, 0); err != nil {
		t.Fatal(err)
	}
	if msgs := e.mailbox(t, 5, store.Inbox); len(msgs) != 1 {
		t.Fatalf("stored %d times", len(msgs))
	}
	if st := e.spool.State(); st.Delivered != 1 {
		t.Fatalf("loop state %+v", st)
	}
}

// While the store is down mail stays in the spool; when it is back all of
// it is delivered, once, in arrival order per mailbox.
func TestStoreOutage(t *testing.T) {
	e := setup(t, spool.Options{
		Workers: 3, RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond,
		BreakerFailures: 3, BreakerCooldown: 5 * time.Millisecond,
	})
	if err := e.inj.Set(faults.TargetStore, faults.Error); err != nil {
		t.Fatal(err)
	}
	var want [3][]string
	for i := range 30 {
		acct := int64(i%3 + 1)
		subj := fmt.Sprintf("message %02d", i)
		e.enqueue(t, "a@example.org", []spool.Recipient{{Address: fmt.Sprintf("u%d@example.com", acct), Account: acct}}, "Subject: "+subj+"\r\n\r\n")
		want[acct-1] = append(want[acct-1], subj)
	}
	e.run(t)
	deadline := time.Now().Add(30 * time.Second)
	for e.spool.State().Breaker == spool.BreakerClosed {
		if time.Now().After(deadline) {
			t.Fatal("breaker did not open")
		}
		time.Sleep(time.Millisecond)
	}
	if st := e.spool.Stats(); st.Depth != 30 {
		t.Fatalf("spool holds %d entries during the outage, want 30", st.Depth)
	}
	if err := e.inj.Set(faults.TargetStore, faults.None); err != nil {
		t.Fatal(err)
	}
	e.drain(t)
	for a := range 3 {
		msgs := e.mailbox(t, int64(a+1), store.Inbox)
		if len(msgs) != len(want[a]) {
			t.Fatalf("account %d has %d messages, want %d", a+1, len(msgs), len(want[a]))
		}
		for i, m := range msgs {
			if m.subject != want[a][i] {
				t.Fatalf("account %d message %d is %q, want %q", a+1, i, m.subject, want[a][i])
			}
		}
	}
	if st := e.spool.State(); st.FailedAttempts < 3 || st.Delivered != 30 {
		t.Fatalf("loop state %+v", st)
	}
}

func TestRemoteRecipient(t *testing.T) {
	e := setup(t, spool.Options{})
	entry := &spool.Entry{ID: "x", Envelope: spool.Envelope{Recipients: []spool.Recipient{{Address: "r@remote.example"}}}}
	err := e.d.Handle(context.Background(), entry, []byte("x"), 0)
	if err == nil || errors.Is(err, spool.ErrPermanent) {
		t.Fatalf("Handle of a remote recipient = %v, want a temporary error", err)
	}
	if err := e.d.Handle(context.Background(), entry, []byte("x"), 1); err == nil {
		t.Fatal("Handle of a missing recipient index succeeded")
	}
}

func TestTrace(t *testing.T) {
	got := Trace("evil>\r\nBcc: x@y", "u@example.com\r\nX: y", []byte("Subject: s\r\n\r\n"))
	want := "Return-Path: <evil???Bcc: x@y>\r\nDelivered-To: u@example.com??X: y\r\nSubject: s\r\n\r\n"
	if string(got) != want {
		t.Fatalf("Trace = %q", got)
	}
	if lines := bytes.Count(got, []byte("\r\n")); lines != 4 {
		t.Fatalf("Trace has %d lines", lines)
	}
}
