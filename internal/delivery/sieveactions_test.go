package delivery

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"casella/internal/directory/sqlitedir"
	"casella/internal/spool"
	"casella/internal/store"
)

// outbound gives the Deliverer a real Sender on the test's directory,
// with an outbound queue of its own, and returns that queue.
func outbound(t *testing.T, e *env) *spool.Spool {
	t.Helper()
	out, err := spool.Open(filepath.Join(t.TempDir(), "queue"), spool.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	e.d.Sender = &Sender{Directory: e.d.Filters.Scripts.(*sqlitedir.Dir), Intake: e.spool, Outbound: out}
	return out
}

// queued returns what waits in a queue, each as its envelope and bytes.
func queued(t *testing.T, q *spool.Spool) []string {
	t.Helper()
	ctx := context.Background()
	list, err := q.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list {
		_, data, err := q.Get(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		var to []string
		for _, r := range e.Envelope.Recipients {
			to = append(to, r.Address)
		}
		out = append(out, "MAIL FROM:<"+e.Envelope.From+"> RCPT TO:<"+strings.Join(to, ",")+">\r\n"+string(data))
	}
	slices.Sort(out)
	return out
}

func task(id, from string, acct store.Account, data string) spool.Task {
	return spool.Task{Entry: &spool.Entry{ID: id, Envelope: spool.Envelope{From: from, Received: time.Now(),
		Recipients: []spool.Recipient{{Address: "u1@example.com", Account: int64(acct)}}}}, Data: []byte(data)}
}

func TestSieveVacation(t *testing.T) {
	e := setup(t, spool.Options{})
	acct := sieveSetup(t, e, `require ["vacation"]; vacation :days 3 :subject "Away" "I am away until Monday.";`)
	out := outbound(t, e)
	ctx := context.Background()
	msg := "From: Alice <a@example.org>\r\nTo: u1@example.com\r\nSubject: hello\r\nMessage-ID: <m1@example.org>\r\n\r\nHi.\r\n"
	first := task("e1", "a@example.org", acct, msg)
	for _, tk := range []spool.Task{
		first,
		first, // the replay after a crash: the same key, sent once
		task("e2", "a@example.org", acct, strings.Replace(msg, "m1@", "m2@", 1)), // within :days
		task("e3", "list@example.org", acct, "List-Id: <l.example.org>\r\n"+msg),
		task("e4", "b@example.org", acct, "Auto-Submitted: auto-generated\r\n"+msg),
		task("e5", "c@example.org", acct, "Precedence: bulk\r\n"+msg),
		task("e6", "", acct, msg),
		task("e7", "MAILER-DAEMON@example.org", acct, msg),
		task("e8", "owner-x@example.org", acct, msg),
		task("e9", "d@example.org", acct, strings.Replace(msg, "To: u1@", "To: other@", 1)),
		task("e10", "u1@example.com", acct, msg),
		task("e11", "b@example.org", acct, msg), // another sender: answered
	} {
		if err := e.d.HandleBatch(ctx, []spool.Task{tk}); err != nil {
			t.Fatal(err)
		}
	}
	replies := queued(t, out)
	if len(replies) != 2 || !strings.HasPrefix(replies[0], "MAIL FROM:<> RCPT TO:<a@example.org>") || !strings.HasPrefix(replies[1], "MAIL FROM:<> RCPT TO:<b@example.org>") {
		t.Fatalf("replies: %q", replies)
	}
	r := replies[0]
	for _, want := range []string{"MAIL FROM:<> RCPT TO:<a@example.org>", "\r\nFrom: u1@example.com\r\n", "\r\nTo: a@example.org\r\n",
		"\r\nSubject: Away\r\n", "\r\nIn-Reply-To: <m1@example.org>\r\n", "\r\nReferences: <m1@example.org>\r\n",
		"\r\nAuto-Submitted: auto-replied", "\r\n\r\nI am away until Monday.\r\n"} {
		if !strings.Contains(r, want) {
			t.Errorf("reply lacks %q:\n%s", want, r)
		}
	}
	if got := e.filed(t, acct, "INBOX"); len(got) != 11 {
		t.Errorf("INBOX has %d messages, want 11: vacation keeps", len(got))
	}
}

// TestSieveVacationFrom replies from :from when it is the account's own
// address, and from the recipient when it is someone else's.
func TestSieveVacationFrom(t *testing.T) {
	for _, c := range []struct{ from, want string }{
		{"U1 <u1@example.com>", "\r\nFrom: U1 <u1@example.com>\r\n"},
		{"boss@example.org", "\r\nFrom: u1@example.com\r\n"},
	} {
		e := setup(t, spool.Options{})
		acct := sieveSetup(t, e, `require "vacation"; vacation :from "`+c.from+`" "Away.";`)
		out := outbound(t, e)
		msg := "From: a@example.org\r\nTo: u1@example.com\r\nSubject: s\r\n\r\nx\r\n"
		if err := e.d.HandleBatch(context.Background(), []spool.Task{task("e1", "a@example.org", acct, msg)}); err != nil {
			t.Fatal(err)
		}
		if replies := queued(t, out); len(replies) != 1 || !strings.Contains(replies[0], c.want) {
			t.Errorf(":from %q: %q, want %q", c.from, replies, c.want)
		}
	}
}

// TestSieveVacationSeconds checks RFC 6131's period in seconds, across
// two Deliverers on one directory, as two nodes of a cluster.
func TestSieveVacationSeconds(t *testing.T) {
	e := setup(t, spool.Options{})
	acct := sieveSetup(t, e, `require ["vacation-seconds"]; vacation :seconds 60 :handle "h" "Back soon.";`)
	out := outbound(t, e)
	other := *e.d
	other.Filters = &Filters{Scripts: e.d.Filters.Scripts, Memory: e.d.Filters.Memory, Logger: quiet()}
	ctx := context.Background()
	msg := "From: a@example.org\r\nTo: u1@example.com\r\nSubject: s\r\n\r\nx\r\n"
	t0 := time.Now()
	for i, c := range []struct {
		d  *Deliverer
		at time.Duration
	}{{e.d, 0}, {&other, 30 * time.Second}, {&other, 61 * time.Second}} {
		tk := task(string(rune('a'+i)), "a@example.org", acct, msg)
		tk.Entry.Envelope.Received = t0.Add(c.at)
		if err := c.d.HandleBatch(ctx, []spool.Task{tk}); err != nil {
			t.Fatal(err)
		}
	}
	if replies := queued(t, out); len(replies) != 2 {
		t.Errorf("%d replies, want one at 0s and one after the 60s period", len(replies))
	}
}

// TestSieveDuplicate files the second copy of a message id into Dups; a
// replay of the first copy, after it was tracked, still files it into
// INBOX, as its first run did.
func TestSieveDuplicate(t *testing.T) {
	e := setup(t, spool.Options{})
	acct := sieveSetup(t, e, `require ["duplicate", "fileinto", "mailbox"]; if duplicate { fileinto :create "Dups"; }`)
	ctx := context.Background()
	msg := "Subject: s\r\nMessage-ID: <same@example.org>\r\n\r\nx\r\n"
	first := task("e1", "a@example.org", acct, msg)
	for _, tk := range []spool.Task{first, task("e2", "a@example.org", acct, msg), first, task("e3", "a@example.org", acct, "Subject: t\r\nMessage-ID: <new@example.org>\r\n\r\nx\r\n")} {
		if err := e.d.HandleBatch(ctx, []spool.Task{tk}); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.filed(t, acct, "INBOX"); len(got) != 2 || got[0].subject != "s" || got[1].subject != "t" {
		t.Errorf("INBOX: %v", got)
	}
	if got := e.filed(t, acct, "Dups"); len(got) != 1 {
		t.Errorf("Dups: %v", got)
	}
}

// TestSieveEditHeader stores the copy the script edited (RFC 5293), never
// with the trace fields removed.
func TestSieveEditHeader(t *testing.T) {
	e := setup(t, spool.Options{})
	acct := sieveSetup(t, e, `require ["editheader"];
addheader "X-Filtered" "by casella";
addheader :last "X-Last" "end";
deleteheader "X-Spam";
deleteheader :index 1 "X-Two";
deleteheader "Received";
deleteheader "Delivered-To";`)
	ctx := context.Background()
	msg := "Received: from a by b\r\nX-Spam: yes\r\nX-Two: 1\r\nX-Two: 2\r\nSubject: s\r\nX-Spam: again\r\n\r\nbody\r\n"
	if err := e.d.HandleBatch(ctx, []spool.Task{task("e1", "a@example.org", acct, msg)}); err != nil {
		t.Fatal(err)
	}
	got := e.mailbox(t, int64(acct), "INBOX")
	want := "X-Filtered: by casella\r\nReturn-Path: <a@example.org>\r\nReceived: from a by b\r\nX-Two: 2\r\nSubject: s\r\nX-Last: end\r\n\r\nbody\r\n"
	if len(got) != 1 {
		t.Fatalf("INBOX: %v", got)
	}
	if string(got[0].raw) != want {
		t.Errorf("stored:\n%q\nwant\n%q", got[0].raw, want)
	}
}

// TestSieveGlobal runs the administrator's script before the account's:
// it files spam into Junk and stops; other mail goes on to the account's
// script, which includes a global script.
func TestSieveGlobal(t *testing.T) {
	e := setup(t, spool.Options{})
	acct := sieveSetup(t, e, `require ["include", "fileinto"]; include :global "lists"; if header :is "subject" "work" { fileinto "Work"; }`)
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("before.sieve", `require ["fileinto"]; if header :contains "x-spam-verdict" "spam" { fileinto "Junk"; stop; }`)
	write("lists.sieve", `require ["fileinto"]; if exists "list-id" { fileinto "Lists"; }`)
	g, err := LoadGlobal(filepath.Join(dir, "before.sieve"))
	if err != nil {
		t.Fatal(err)
	}
	e.d.Filters.Global = g
	ctx := context.Background()
	for _, name := range []string{"Work", "Lists"} {
		if _, err := e.store.CreateMailbox(ctx, acct, name, ""); err != nil {
			t.Fatal(err)
		}
	}
	for i, msg := range []string{
		"X-Spam-Verdict: spam\r\nSubject: work\r\n\r\nx\r\n",
		"Subject: work\r\n\r\nx\r\n",
		"List-Id: <l.example.org>\r\nSubject: news\r\n\r\nx\r\n",
		"Subject: plain\r\n\r\nx\r\n",
	} {
		if err := e.d.HandleBatch(ctx, []spool.Task{task(string(rune('a'+i)), "a@example.org", acct, msg)}); err != nil {
			t.Fatal(err)
		}
	}
	for name, n := range map[string]int{"Junk": 1, "Work": 1, "Lists": 1, "INBOX": 1} {
		if got := e.filed(t, acct, name); len(got) != n {
			t.Errorf("%s: %v, want %d", name, got, n)
		}
	}
}

// TestSieveVacationScript runs the script of the JMAP VacationResponse
// before the active script, unless the active script has a vacation of
// its own.
func TestSieveVacationScript(t *testing.T) {
	e := setup(t, spool.Options{})
	acct := sieveSetup(t, e, `require ["fileinto", "mailbox"]; fileinto :create "Sorted";`)
	out := outbound(t, e)
	scripts := e.d.Filters.Scripts.(interface {
		PutSieveScript(ctx context.Context, acct store.Account, name, source string) error
	})
	ctx := context.Background()
	if err := scripts.PutSieveScript(ctx, acct, "casella-vacation", `require "vacation"; vacation "Away.";`); err != nil {
		t.Fatal(err)
	}
	msg := "From: a@example.org\r\nTo: u1@example.com\r\nSubject: s\r\n\r\nx\r\n"
	if err := e.d.HandleBatch(ctx, []spool.Task{task("e1", "a@example.org", acct, msg)}); err != nil {
		t.Fatal(err)
	}
	if replies := queued(t, out); len(replies) != 1 || !strings.Contains(replies[0], "Away.") {
		t.Errorf("replies: %q", replies)
	}
	if got := e.filed(t, acct, "Sorted"); len(got) != 1 {
		t.Errorf("Sorted: %v", got)
	}
	if got := e.filed(t, acct, "INBOX"); len(got) != 0 {
		t.Errorf("INBOX: %v", got)
	}
}

// TestSieveGlobalFailure keeps a message the global script fails on and
// tells the account's owner nothing: the script is the administrator's.
func TestSieveGlobalFailure(t *testing.T) {
	e := setup(t, spool.Options{})
	acct := sieveSetup(t, e, `keep;`)
	path := filepath.Join(t.TempDir(), "before.sieve")
	if err := os.WriteFile(path, []byte(`require "include"; include "missing";`), 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := LoadGlobal(path)
	if err != nil {
		t.Fatal(err)
	}
	e.d.Filters.Global = g
	if err := e.d.HandleBatch(context.Background(), []spool.Task{task("e1", "a@example.org", acct, "Subject: s\r\n\r\nx\r\n")}); err != nil {
		t.Fatal(err)
	}
	if got := e.filed(t, acct, "INBOX"); len(got) != 1 || got[0].subject != "s" {
		t.Errorf("INBOX: %v, want the message alone", got)
	}
}
