package delivery

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"casella/internal/directory"
	"casella/internal/directory/sqlitedir"
	"casella/internal/dkim"
	"casella/internal/limit"
	"casella/internal/resolver"
	"casella/internal/resolver/dnstest"
	"casella/internal/spool"
	"casella/internal/srs"
)

// sendSetup returns a real directory with account u1@example.com and a
// Sender into two real spools in dir, opened again by reopen as after a
// restart.
func sendSetup(t *testing.T) (dir directory.Directory, reopen func() (*Sender, *spool.Spool, *spool.Spool)) {
	t.Helper()
	ctx := context.Background()
	tmp := t.TempDir()
	d, err := sqlitedir.Open(filepath.Join(tmp, "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddAccount(ctx, "u1@example.com", "u1-password", 0, ""); err != nil {
		t.Fatal(err)
	}
	return d, func() (*Sender, *spool.Spool, *spool.Spool) {
		in, err := spool.Open(filepath.Join(tmp, "spool"), spool.Options{Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		out, err := spool.Open(filepath.Join(tmp, "queue"), spool.Options{Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close(); out.Close() })
		return &Sender{Directory: d, Intake: in, Outbound: out}, in, out
	}
}

func depth(t *testing.T, sp *spool.Spool) int {
	t.Helper()
	l, err := sp.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(l)
}

// A delivery's side mail is enqueued once, local recipients into the
// intake spool and remote ones into the outbound queue, however often the
// delivery is replayed, also after a restart and after the first copies
// left the spools.
func TestSendReplays(t *testing.T) {
	ctx := context.Background()
	_, reopen := sendSetup(t)
	s, in, out := reopen()
	task := spool.Task{Entry: &spool.Entry{ID: "00000001700000000000-0123456789ab", Envelope: spool.Envelope{
		From: "a@example.org", Received: time.Unix(1700000000, 0),
		Recipients: []spool.Recipient{{Address: "u1@example.com", Account: 1}},
	}}, Rcpt: 0}
	m := Mail{Action: "redirect", From: "a@example.org", To: []string{"u1@example.com", "friend@example.net", "nobody@example.com"},
		Data: []byte("Subject: hi\r\n\r\nhello\r\n")}
	sent, err := s.Send(ctx, task, m)
	if err != nil {
		t.Fatal(err)
	}
	if sent.Duplicate || sent.Recipients != 2 || len(sent.IDs) != 2 || len(sent.Unknown) != 1 {
		t.Fatalf("first Send = %+v", sent)
	}
	if depth(t, in) != 1 || depth(t, out) != 1 {
		t.Fatalf("spools hold %d and %d entries, want 1 and 1", depth(t, in), depth(t, out))
	}
	local, _, err := in.Get(ctx, sent.IDs[0])
	if err != nil || local.Envelope.Recipients[0].Account != 1 || local.Envelope.From != "a@example.org" {
		t.Fatalf("local copy %+v, %v", local.Envelope, err)
	}

	if again, err := s.Send(ctx, task, m); err != nil || !again.Duplicate || again.IDs[0] != sent.IDs[0] {
		t.Fatalf("replayed Send = %+v, %v", again, err)
	}
	// The first copies leave; the process restarts; the delivery replays.
	for i, sp := range []*spool.Spool{in, out} {
		if err := sp.Remove(ctx, sent.IDs[i]); err != nil {
			t.Fatal(err)
		}
	}
	s, in, out = reopen()
	if again, err := s.Send(ctx, task, m); err != nil || !again.Duplicate {
		t.Fatalf("Send after restart = %+v, %v", again, err)
	}
	if depth(t, in) != 0 || depth(t, out) != 0 {
		t.Fatal("a replay after restart enqueued again")
	}

	// Another action, or another recipient of the entry, is other mail.
	if other, err := s.Send(ctx, task, Mail{Action: "vacation", To: []string{"a@example.org"}, Data: m.Data}); err != nil || other.Duplicate {
		t.Fatalf("another action = %+v, %v", other, err)
	}
	task.Rcpt = 1
	task.Entry.Envelope.Recipients = append(task.Entry.Envelope.Recipients, spool.Recipient{Address: "u1@example.com", Account: 1})
	if other, err := s.Send(ctx, task, m); err != nil || other.Duplicate {
		t.Fatalf("another recipient = %+v, %v", other, err)
	}
	if depth(t, out) != 2 {
		t.Fatalf("outbound holds %d entries, want 2", depth(t, out))
	}
}

// A replay finds its keys used before it touches the sending limit or
// the signing keys: a redirect sent once, then replayed in the process
// and after a restart, takes one recipient from the account's limit, and
// the replays run no signer (they would fail: the keys are broken after
// the first send).
func TestSendReplayChargesAndSignsOnce(t *testing.T) {
	ctx := context.Background()
	dir, reopen := sendSetup(t)
	keyDir := filepath.Join(t.TempDir(), "dkim")
	keys := dkim.Open(keyDir)
	generated, err := keys.Generate("example.com", "s1")
	if err != nil {
		t.Fatal(err)
	}
	dns := dnstest.Start(t)
	rate := limit.NewRate(3, time.Hour)
	sender := func() (*Sender, *spool.Spool) {
		s, _, out := reopen()
		s.Outbound = dkim.SigningQueue{Next: out, Keys: keys, Log: quiet()}
		s.Forwarder = &Forwarder{SRS: &srs.Rewriter{Secrets: [][]byte{[]byte("test secret")}}, Keys: keys,
			Resolver: &resolver.Resolver{Servers: []string{dns.Addr}}, Hostname: "mx.example.com", Logger: quiet()}
		s.SendRate = rate
		return s, out
	}
	u1, err := dir.Account(ctx, "u1@example.com")
	if err != nil {
		t.Fatal(err)
	}
	task := spool.Task{Entry: &spool.Entry{ID: "00000001700000000000-0123456789ab", Envelope: spool.Envelope{
		From: "alice@example.org", Received: time.Unix(1700000000, 0),
		Recipients: []spool.Recipient{{Address: "u1@example.com", Account: int64(u1.ID)}},
	}}, Rcpt: 0}
	m := Mail{Action: "redirect/friend@example.net", From: "alice@example.org", To: []string{"friend@example.net"},
		Data: []byte(arrived), Forward: true, Domain: "example.com", Account: u1.ID}

	s, out := sender()
	sent, err := s.Send(ctx, task, m)
	if err != nil || sent.Duplicate {
		t.Fatalf("first Send = %+v, %v", sent, err)
	}
	_, data, err := out.Get(ctx, sent.IDs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("DKIM-Signature:")) || !bytes.Contains(data, []byte("ARC-Seal:")) {
		t.Fatalf("the forwarded copy is not signed and sealed:\n%s", data)
	}
	if again, err := s.Send(ctx, task, m); err != nil || !again.Duplicate || again.IDs[0] != sent.IDs[0] {
		t.Fatalf("replayed Send = %+v, %v", again, err)
	}

	// Signing now fails; a replay that signed would fail with it.
	later := time.Now().Add(time.Minute)
	for _, k := range generated {
		path := filepath.Join(keyDir, k.Domain, k.Selector+".pem")
		if err := os.WriteFile(path, []byte("not a key\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := keys.Sign("example.com", []byte(arrived)); err == nil {
		t.Fatal("signing with broken keys succeeded")
	}
	s, out = sender()
	if again, err := s.Send(ctx, task, m); err != nil || !again.Duplicate {
		t.Fatalf("Send replayed after a restart = %+v, %v; it ran the signer or hit the limit", again, err)
	}
	if depth(t, out) != 1 {
		t.Fatalf("outbound holds %d entries, want 1", depth(t, out))
	}

	// Of the limit of 3, the one redirect took 1.
	for i, want := range []bool{true, true, false} {
		if got := rate.Allow("u1@example.com"); got != want {
			t.Fatalf("sending limit after the replays: Allow #%d = %v, want %v", i+1, got, want)
		}
	}
	// With the limit used up, a replay is still what it was: sent.
	if again, err := s.Send(ctx, task, m); err != nil || !again.Duplicate {
		t.Fatalf("Send replayed over the limit = %+v, %v", again, err)
	}
}
