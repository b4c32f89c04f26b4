package jmap

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/directory"
	"casella/internal/directory/sqlitedir"
	"casella/internal/message"
	"casella/internal/smtp"
	"casella/internal/spool"
	"casella/internal/store"
)

// storeHandler delivers the intake spool's entries into the test
// store, as the delivery loop does.
type storeHandler struct{ e *testEnv }

func (h storeHandler) Handle(ctx context.Context, en *spool.Entry, data []byte, rcpt int) error {
	key, err := h.e.blobs.Put(ctx, data)
	if err != nil {
		return err
	}
	acct := store.Account(en.Envelope.Recipients[rcpt].Account)
	if err := h.e.store.EnsureAccount(ctx, acct); err != nil {
		return err
	}
	_, err = h.e.store.Deliver(ctx, store.Delivery{Key: fmt.Sprintf("%s/%d", en.ID, rcpt), Account: acct,
		Message: store.NewMessage{Blob: key, Size: int64(len(data)), Meta: message.Parse(data)}})
	return err
}

// peerSession is a session of a real SMTP server standing in for the
// remote domain: it refuses reject@ for good, later@ for now, and takes
// the others.
type peerSession struct{}

func (peerSession) Reset()                                 {}
func (peerSession) Logout() error                          { return nil }
func (peerSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (peerSession) Data(r io.Reader) error                 { _, err := io.Copy(io.Discard, r); return err }
func (peerSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	switch {
	case strings.HasPrefix(to, "reject@"):
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	case strings.HasPrefix(to, "later@"):
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	}
	return nil
}

func startPeer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return peerSession{}, nil }))
	srv.Domain = "mx.remote.test"
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// runQueue opens a spool whose recipients' outcomes go to the JMAP
// server's DeliveryStatus, and runs its loop with h.
func runQueue(t *testing.T, e *testEnv, dir string, h spool.Handler) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(dir, spool.Options{RetryMin: 200 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnStatus: e.srv.DeliveryStatus})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sp.Run(ctx, h); close(done) }()
	t.Cleanup(func() { cancel(); <-done; sp.Close() })
	return sp
}

// An EmailSubmission's deliveryStatus follows its recipients through
// the queues: the local one is delivered into the store (yes), the
// remote ones go through a real SMTP server, which takes one (yes, with
// its reply as it said it), refuses one for good (no) and one for now
// (queued, with its reply); each change raises the state and is pushed.
func TestDeliveryStatus(t *testing.T) {
	e := newTestEnv(t)
	recs := e.srv.Sieve.(*sqlitedir.Dir)
	dir := t.TempDir()
	relay := &smtp.Relay{Smarthost: startPeer(t), TLSMode: "none", Hostname: "mx.example.org", Timeout: 10 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	inbound := runQueue(t, e, filepath.Join(dir, "spool"), storeHandler{e})
	outbound := runQueue(t, e, filepath.Join(dir, "queue"), relay)
	e.srv.Submission = &Submission{Directory: e.srv.Auth.(testAuth), Spool: inbound, Outbound: outbound, Records: recs}

	state0 := e.call1("EmailSubmission/get", map[string]any{})["state"].(string)
	events := pushEvents(t, e, "EmailSubmission")

	rcpts := []string{"bob@example.org", "friend@remote.test", "reject@remote.test", "later@remote.test"}
	var to []any
	for _, r := range rcpts {
		to = append(to, map[string]any{"email": r})
	}
	identity := e.call1("Identity/get", map[string]any{})["list"].([]any)[0].(map[string]any)["id"].(string)
	r := e.api(
		[]any{"Email/set", map[string]any{"create": map[string]any{"d": map[string]any{
			"mailboxIds": map[string]bool{e.mailboxID("Drafts"): true}, "from": []any{map[string]any{"email": testUser}},
			"to": to, "subject": "Status",
		}}}, "0"},
		[]any{"EmailSubmission/set", map[string]any{"create": map[string]any{"s": map[string]any{"identityId": identity, "emailId": "#d"}}}, "1"},
	)
	set := r[1][1].(map[string]any)
	created := set["created"].(map[string]any)["s"].(map[string]any)
	id := created["id"].(string)
	for _, rc := range rcpts {
		st := created["deliveryStatus"].(map[string]any)[rc].(map[string]any)
		if st["delivered"] != "queued" || st["smtpReply"] != statusQueued || st["displayed"] != "unknown" {
			t.Errorf("created: deliveryStatus of %s: %v", rc, st)
		}
	}

	want := map[string][2]string{
		"bob@example.org":    {"yes", "250 2.0.0 Delivered"},
		"friend@remote.test": {"yes", "250 2.0.0 OK: queued"},
		"reject@remote.test": {"no", "550 5.1.1 No such user here"},
		"later@remote.test":  {"queued", "451 4.3.0 Try again later"},
	}
	var got map[string]any
	var state string
	deadline := time.Now().Add(20 * time.Second)
	for {
		g := e.call1("EmailSubmission/get", map[string]any{"ids": []string{id}, "properties": []string{"deliveryStatus"}})
		got, state = g["list"].([]any)[0].(map[string]any)["deliveryStatus"].(map[string]any), g["state"].(string)
		ok := len(got) == len(want)
		for rc, w := range want {
			st, _ := got[rc].(map[string]any)
			ok = ok && st["delivered"] == w[0] && st["smtpReply"] == w[1] && st["displayed"] == "unknown"
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveryStatus %v, want %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if mb, _ := e.store.Mailbox(t.Context(), 2, "INBOX"); mb.Messages != 1 {
		t.Errorf("bob's INBOX holds %d messages, want 1", mb.Messages)
	}

	// The changes raised the state past the creation's and were pushed.
	created0 := set["newState"].(string)
	if state == created0 || state == state0 {
		t.Errorf("state %s after the deliveries, as after the creation", state)
	}
	ch := e.call1("EmailSubmission/changes", map[string]any{"sinceState": created0})
	if u := toStrings(ch["updated"]); len(u) != 1 || u[0] != id {
		t.Errorf("changes after the deliveries: %v", ch)
	}
	for {
		select {
		case ev := <-events:
			if strings.Contains(ev, `"EmailSubmission":"`+state+`"`) {
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no push of state %s", state)
		}
	}
}

// deliveryStatusOf keeps a server's reply as it said it, on one line,
// and writes ours where no server answered; a recipient given up at the
// end of the queue lifetime is no, with the last reply it had.
func TestDeliveryStatusOf(t *testing.T) {
	refused := &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such\r\nuser\x00 here"}
	later := &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.NoEnhancedCode, Message: "Busy"}
	for _, c := range []struct {
		reply string
		err   error
		want  directory.DeliveryStatus
	}{
		{"", nil, directory.DeliveryStatus{Delivered: "yes", SMTPReply: "250 2.0.0 Delivered"}},
		{"250 2.0.0 Ok:\r\n queued as 7", nil, directory.DeliveryStatus{Delivered: "yes", SMTPReply: "250 2.0.0 Ok: queued as 7"}},
		{"", fmt.Errorf("relay: %w: %w", spool.ErrPermanent, refused), directory.DeliveryStatus{Delivered: "no", SMTPReply: "550 5.1.1 No such user here"}},
		{"", fmt.Errorf("relay: %w: %w", spool.ErrDeferred, later), directory.DeliveryStatus{Delivered: "queued", SMTPReply: "421 Busy"}},
		{"", fmt.Errorf("connecting: connection refused"), directory.DeliveryStatus{Delivered: "queued", SMTPReply: "451 4.0.0 connecting: connection refused"}},
		{"", fmt.Errorf("gave up: %w, %w: %w", spool.ErrExpired, spool.ErrPermanent, later), directory.DeliveryStatus{Delivered: "no", SMTPReply: "421 Busy"}},
	} {
		if got := deliveryStatusOf(c.reply, c.err); got != c.want {
			t.Errorf("deliveryStatusOf(%q, %v) = %+v, want %+v", c.reply, c.err, got, c.want)
		}
	}
	// A long error is cut, not kept whole.
	got := deliveryStatusOf("", fmt.Errorf("%w: %s", spool.ErrPermanent, strings.Repeat("x", 2000)))
	if got.Delivered != "no" || len(got.SMTPReply) != maxReplyLen || !strings.HasPrefix(got.SMTPReply, "550 5.0.0 permanent delivery failure: xxx") {
		t.Errorf("long error: %+v", got)
	}
}
