package delivery

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"casella/internal/directory"
	"casella/internal/spool"
	"casella/internal/store"
)

// sieveSetup adds an account with an active script to a real directory and
// turns filtering on.
func sieveSetup(t testing.TB, e *env, script string) store.Account {
	t.Helper()
	return addAccounts(t, e, 1, script)[0]
}

type filed struct {
	subject string
	flags   []string
}

func (e *env) filed(t *testing.T, acct store.Account, name string) []filed {
	t.Helper()
	ctx := context.Background()
	mb, err := e.store.Mailbox(ctx, acct, name)
	if err != nil {
		return nil
	}
	var out []filed
	err = e.store.Messages(ctx, acct, store.Query{Mailbox: mb.ID, WithMeta: true}, func(m *store.Message) error {
		out = append(out, filed{m.Meta.Envelope.Subject, slices.Clone(m.Flags)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

const filterScript = `require ["fileinto", "imap4flags", "copy", "mailbox"];
if header :contains "subject" "report" { fileinto :flags "\\Seen" "Reports"; }
elsif header :contains "subject" "both" { fileinto :copy :create "Archive"; addflag "$Both"; }
elsif header :contains "subject" "spam" { discard; }
elsif header :contains "subject" "away" { redirect "elsewhere@example.org"; }
`

func TestSieveFiles(t *testing.T) {
	e := setup(t, spool.Options{})
	acct := sieveSetup(t, e, filterScript)
	ctx := context.Background()
	if _, err := e.store.CreateMailbox(ctx, acct, "Reports", ""); err != nil {
		t.Fatal(err)
	}
	rcpt := []spool.Recipient{{Address: "u1@example.com", Account: int64(acct)}}
	for _, subject := range []string{"daily report", "for both", "spam spam", "away", "plain"} {
		e.enqueue(t, "a@example.org", rcpt, "From: a@example.org\r\nTo: u1@example.com\r\nSubject: "+subject+"\r\n\r\nBody.\r\n")
	}
	e.run(t)
	e.drain(t)
	want := map[string][]filed{
		"Reports": {{"daily report", []string{`\Seen`}}},
		"Archive": {{"for both", nil}},
		// Without a Sender the redirect is not performed: the message is kept.
		"INBOX": {{"for both", []string{"$Both"}}, {"away", nil}, {"plain", nil}},
	}
	for name, w := range want {
		got := e.filed(t, acct, name)
		if len(got) != len(w) {
			t.Errorf("%s: got %v, want %v", name, got, w)
			continue
		}
		for i := range w {
			if got[i].subject != w[i].subject || !slices.Equal(got[i].flags, w[i].flags) {
				t.Errorf("%s[%d]: got %v, want %v", name, i, got[i], w[i])
			}
		}
	}
}

// TestSieveReplay delivers one task twice, as the spool does after a crash
// between the store's commit and the spool's removal: nothing is filed
// twice, in any of the mailboxes the script files into.
func TestSieveReplay(t *testing.T) {
	e := setup(t, spool.Options{})
	acct := sieveSetup(t, e, filterScript)
	entry := &spool.Entry{ID: "entry-1", Envelope: spool.Envelope{From: "a@example.org", Received: time.Now(),
		Recipients: []spool.Recipient{{Address: "u1@example.com", Account: int64(acct)}}}}
	task := spool.Task{Entry: entry, Data: []byte("Subject: for both\r\n\r\nx\r\n"), Rcpt: 0}
	for range 2 {
		if err := e.d.HandleBatch(context.Background(), []spool.Task{task}); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.filed(t, acct, "INBOX"); len(got) != 1 {
		t.Errorf("INBOX: %v", got)
	}
	if got := e.filed(t, acct, "Archive"); len(got) != 1 {
		t.Errorf("Archive: %v", got)
	}
}

// TestSieveFailureKeeps runs a script that fails at run time (it includes
// a script that does not exist): the message goes to INBOX all the same.
func TestSieveFailureKeeps(t *testing.T) {
	e := setup(t, spool.Options{})
	acct := sieveSetup(t, e, `require ["include", "fileinto"]; fileinto "Elsewhere"; include "missing";`)
	if _, err := e.store.CreateMailbox(context.Background(), acct, "Elsewhere", ""); err != nil {
		t.Fatal(err)
	}
	var failed atomic.Int32
	e.d.Filters.Failed = func() { failed.Add(1) }
	for _, s := range []string{"kept", "kept too"} {
		e.enqueue(t, "a@example.org", []spool.Recipient{{Address: "u1@example.com", Account: int64(acct)}}, "Subject: "+s+"\r\n\r\nx\r\n")
	}
	e.run(t)
	e.drain(t)
	// Both messages are kept; the owner is told once, with the line and
	// column of the failing command.
	got := e.mailbox(t, int64(acct), "INBOX")
	if len(got) != 3 || got[0].subject != "kept" || got[1].subject != `Your Sieve filter "main" failed` || got[2].subject != "kept too" {
		t.Fatalf("INBOX: %v", got)
	}
	if !strings.Contains(string(got[1].raw), "line 1, column 56: include:") {
		t.Errorf("the notice does not say where the script failed:\n%s", got[1].raw)
	}
	_, src, _ := e.d.Filters.Scripts.SieveScript(context.Background(), acct, "main")
	failures, err := directory.SieveFailures(context.Background(), e.d.Filters.Memory, acct)
	if f := directory.SieveFailure(failures, "main", src); err != nil || !strings.Contains(f, "line 1, column 56") {
		t.Errorf("failure recorded for ManageSieve and JMAP: %q %v", f, err)
	}
	if failed.Load() != 2 {
		t.Errorf("failures counted: %d, want 2", failed.Load())
	}
	if got := e.filed(t, acct, "Elsewhere"); len(got) != 0 {
		t.Errorf("a failed script's fileinto was done: %v", got)
	}
}
