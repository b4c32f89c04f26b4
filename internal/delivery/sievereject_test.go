package delivery

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"casella/internal/directory/sqlitedir"
	"casella/internal/spool"
)

// TestRejectsAtIntake decides at intake only what a script decides
// without the mailbox store and with no action but reject; every other
// run, and a directory that cannot be read, accept.
func TestRejectsAtIntake(t *testing.T) {
	ctx := context.Background()
	dir, err := sqlitedir.Open(filepath.Join(t.TempDir(), "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	if _, err := dir.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	a, err := dir.AddAccount(ctx, "u1@example.com", "u1-password", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	rcpt := spool.Recipient{Address: "u1@example.com", Account: int64(a.ID)}
	msg := []byte("Received: from a by b\r\nFrom: x@example.org\r\nTo: u1@example.com\r\nSubject: cheap pills\r\nMessage-ID: <1@example.org>\r\n\r\nbuy\r\n")
	now := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name, script string
		reason       string
		rejected     bool
	}{
		{"reject", `require "reject"; reject "I do not want this";`, "I do not want this", true},
		{"ereject", `require "ereject"; ereject "go away";`, "go away", true},
		{"by subject", `require "reject"; if header :contains "subject" "pills" { reject "spam"; }`, "spam", true},
		{"by envelope", `require ["reject", "envelope"]; if envelope :domain "from" "example.org" { reject "not from there"; }`, "not from there", true},
		{"by date", `require ["reject", "date", "relational"]; if currentdate :value "ge" "year" "2026" { reject "too late"; }`, "too late", true},
		{"edits before", `require ["reject", "editheader"]; addheader "X-Seen" "yes"; reject "edited";`, "edited", true},
		{"not matching", `require "reject"; if header :contains "subject" "meeting" { reject "no"; }`, "", false},
		{"fileinto", `require "fileinto"; fileinto "Spam";`, "", false},
		{"discard", `discard;`, "", false},
		{"mailboxexists", `require ["reject", "mailbox"]; if mailboxexists "Spam" { keep; } else { reject "no Spam box"; }`, "", false},
		{"duplicate", `require ["reject", "duplicate"]; if duplicate { discard; } else { reject "first"; }`, "", false},
		{"with vacation", `require ["reject", "vacation"]; vacation "away"; reject "both";`, "", false},
		{"failing", `require ["reject", "include"]; include "missing"; reject "x";`, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := dir.PutSieveScript(ctx, a.ID, "main", c.script); err != nil {
				t.Fatal(err)
			}
			if err := dir.SetActiveSieveScript(ctx, a.ID, "main"); err != nil {
				t.Fatal(err)
			}
			f := &Filters{Scripts: dir, Memory: dir, Logger: quiet()}
			reason, rejected := f.RejectsAtIntake(ctx, rcpt, "x@example.org", msg, now)
			if reason != c.reason || rejected != c.rejected {
				t.Errorf("got %q %v, want %q %v", reason, rejected, c.reason, c.rejected)
			}
		})
	}

	// No script: accepted.
	if err := dir.SetActiveSieveScript(ctx, a.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, rejected := (&Filters{Scripts: dir, Logger: quiet()}).RejectsAtIntake(ctx, rcpt, "x@example.org", msg, now); rejected {
		t.Error("rejected with no active script")
	}
	// A directory that does not answer: no script was read, accepted.
	if err := dir.SetActiveSieveScript(ctx, a.ID, "main"); err != nil {
		t.Fatal(err)
	}
	if err := dir.PutSieveScript(ctx, a.ID, "main", `require "reject"; reject "no";`); err != nil {
		t.Fatal(err)
	}
	dir.Close()
	if _, rejected := (&Filters{Scripts: dir, Logger: quiet()}).RejectsAtIntake(ctx, rcpt, "x@example.org", msg, now); rejected {
		t.Error("rejected while the directory cannot be read")
	}
}

// BenchmarkRejectsAtIntake measures what SMTP adds at the end of DATA
// for a recipient whose script is cached: the 50 rules of rules50, none
// matching, then a reject.
func BenchmarkRejectsAtIntake(b *testing.B) {
	ctx := context.Background()
	dir, err := sqlitedir.Open(filepath.Join(b.TempDir(), "directory.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer dir.Close()
	if _, err := dir.AddDomain(ctx, "example.com"); err != nil {
		b.Fatal(err)
	}
	a, err := dir.AddAccount(ctx, "u1@example.com", "u1-password", 0, "")
	if err != nil {
		b.Fatal(err)
	}
	src := strings.Replace(rules50(), `"body"];`, `"body", "reject"];`, 1) + "reject \"no\";\n"
	if err := dir.PutSieveScript(ctx, a.ID, "main", src); err != nil {
		b.Fatal(err)
	}
	if err := dir.SetActiveSieveScript(ctx, a.ID, "main"); err != nil {
		b.Fatal(err)
	}
	f := &Filters{Scripts: dir, Logger: quiet()}
	rcpt := spool.Recipient{Address: "u1@example.com", Account: int64(a.ID)}
	msg := []byte("Received: from a by b\r\nFrom: x@example.org\r\nTo: u1@example.com\r\nSubject: hello\r\nMessage-ID: <1@example.org>\r\n\r\n" +
		strings.Repeat("A line of the body of an ordinary message.\r\n", 100))
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, rejected := f.RejectsAtIntake(ctx, rcpt, "x@example.org", msg, now); !rejected {
			b.Fatal("not rejected")
		}
	}
}
