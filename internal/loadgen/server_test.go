package loadgen_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"casella/internal/config"
	"casella/internal/directory/sqlitedir"
	"casella/internal/loadgen"
	"casella/internal/server"
	"casella/internal/store/sqlite"
)

const (
	password  = "bench-secret"
	mailboxes = 3
)

// casella starts a Casella server in this process with mailboxes accounts
// user1..userN@example.test and big@example.test, and returns its SMTP and
// IMAP addresses.
func casella(t *testing.T) (smtpAddr, imapAddr string) {
	t.Helper()
	ctx := context.Background()
	data := t.TempDir()
	dir, err := sqlitedir.Open(filepath.Join(data, server.DirectoryFile))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(data, server.StoreFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	users := []string{"big@example.test"}
	for i := 1; i <= mailboxes; i++ {
		users = append(users, fmt.Sprintf("user%d@example.test", i))
	}
	for _, u := range users {
		a, err := dir.AddAccount(ctx, u, password, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := st.EnsureAccount(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	dir.Close()

	cfg := config.Default()
	cfg.DataDir = data
	cfg.Hostname = "mx.example.test"
	cfg.SMTP.Listen, cfg.SMTP.Submission, cfg.SMTP.Submissions = "127.0.0.1:0", "", ""
	cfg.IMAP.Listen, cfg.IMAP.TLSListen = "127.0.0.1:0", ""
	cfg.POP3.Listen, cfg.POP3.TLSListen = "", ""
	cfg.HTTP.Listen = ""
	cfg.ManageSieve.Listen = ""
	cfg.Demo.Enabled = false
	srv, err := server.Open(server.Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv.Addr("smtp").String(), srv.Addr("imap").String()
}

var users = loadgen.Users{Pattern: "user%d@example.test", Count: mailboxes, Password: password}

func TestAgainstCasella(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server")
	}
	smtpAddr, imapAddr := casella(t)
	ctx := context.Background()

	t.Run("smtp", func(t *testing.T) {
		r, err := loadgen.SMTP(ctx, loadgen.SMTPOptions{
			Server: loadgen.Conn{Addr: smtpAddr}, Messages: 30, Connections: 3,
			Size: loadgen.SizeRange{Min: 1000, Max: 5000}, Recipients: users,
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.Accepted != 30 || r.Failed+r.Deferred+r.Rejected != 0 {
			t.Fatalf("accepted %d of 30, %d failed, %d deferred, %d rejected: %v", r.Accepted, r.Failed, r.Deferred, r.Rejected, r.Errors)
		}
		if r.PerSecond <= 0 || r.Latency.P50 <= 0 || r.Latency.P99 < r.Latency.P50 {
			t.Fatalf("implausible figures: %+v", r)
		}
	})

	// Refused messages are counted as such, and the session goes on.
	t.Run("refused", func(t *testing.T) {
		r, err := loadgen.SMTP(ctx, loadgen.SMTPOptions{
			Server: loadgen.Conn{Addr: smtpAddr}, Messages: 4, Connections: 1,
			Size: loadgen.SizeRange{Min: 1000, Max: 1000}, Recipients: loadgen.Users{Pattern: "nobody%d@example.test", Count: 2},
		})
		if err == nil || r == nil || r.Rejected != 4 || r.Failed != 0 {
			t.Fatalf("to unknown users: %+v, %v; want 4 rejected, none failed", r, err)
		}
	})

	t.Run("starttls", func(t *testing.T) {
		r, err := loadgen.SMTP(ctx, loadgen.SMTPOptions{
			Server: loadgen.Conn{Addr: smtpAddr, StartTLS: true, Insecure: true}, Messages: 3, Connections: 1,
			Size: loadgen.SizeRange{Min: 1000, Max: 1000}, Recipients: users,
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.Accepted != 3 {
			t.Fatalf("accepted %d of 3 over STARTTLS: %v", r.Accepted, r.Errors)
		}
	})

	t.Run("imap", func(t *testing.T) {
		r, err := loadgen.IMAP(ctx, loadgen.IMAPOptions{
			Server: loadgen.Conn{Addr: imapAddr}, Clients: 3, Duration: 2 * time.Second, Users: users,
			Size: loadgen.SizeRange{Min: 1000, Max: 2000},
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.Errors != 0 || r.Ops == 0 || !r.Exact {
			t.Fatalf("%d commands, %d errors (exact checks %v): %v", r.Ops, r.Errors, r.Exact, r.Samples)
		}
		if r.ProtocolErrors != 0 {
			t.Errorf("%d protocol errors: %v", r.ProtocolErrors, r.ProtocolKinds)
		}
		for _, s := range r.Commands {
			if s.Op == "LOGIN" && s.Count == 0 {
				t.Fatalf("no LOGIN measured: %+v", r.Commands)
			}
		}
	})

	// At an offered rate the clients send about that many commands a
	// second, not as many as the server can answer.
	t.Run("imap-rate", func(t *testing.T) {
		const rate = 40
		r, err := loadgen.IMAP(ctx, loadgen.IMAPOptions{
			Server: loadgen.Conn{Addr: imapAddr}, Clients: 4, Duration: 3 * time.Second, Users: users,
			Size: loadgen.SizeRange{Min: 1000, Max: 2000}, Rate: rate,
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.Errors != 0 || r.ProtocolErrors != 0 || r.Offered != rate {
			t.Fatalf("%d errors, %d protocol errors, offered %g: %v %v", r.Errors, r.ProtocolErrors, r.Offered, r.Samples, r.ProtocolKinds)
		}
		if r.PerSecond < rate/2 || r.PerSecond > 2*rate {
			t.Fatalf("%.1f commands/s at an offered %d", r.PerSecond, rate)
		}
	})

	t.Run("idle", func(t *testing.T) {
		r, err := loadgen.Idle(ctx, loadgen.IdleOptions{
			Server: loadgen.Conn{Addr: imapAddr}, Connections: 5, Users: users,
			Hold: 100 * time.Millisecond, PIDs: []int{os.Getpid()},
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.Idling != 5 || r.Before == nil || r.After == nil || r.After.RSS == 0 {
			t.Fatalf("want 5 connections idling and memory read, got %+v", r)
		}
	})

	t.Run("mailbox", func(t *testing.T) {
		o := loadgen.MailboxOptions{
			Server: loadgen.Conn{Addr: imapAddr}, User: "big@example.test", Password: password,
			Mailbox: "Big", Messages: 50, Size: loadgen.SizeRange{Min: 500, Max: 1000}, Repeat: 2,
		}
		r, err := loadgen.Mailbox(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if r.Messages != 50 || r.Appended != 50 || len(r.Commands) < 3 {
			t.Fatalf("want 50 messages appended and 3 commands timed, got %+v", r)
		}
		// A second run uses the mailbox as it is.
		r, err = loadgen.Mailbox(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if r.Appended != 0 || r.Messages != 50 {
			t.Fatalf("second run appended %d, found %d messages; want 0 and 50", r.Appended, r.Messages)
		}
	})
}

func TestNoServer(t *testing.T) {
	_, err := loadgen.SMTP(context.Background(), loadgen.SMTPOptions{
		Server: loadgen.Conn{Addr: "127.0.0.1:1"}, Messages: 1, Connections: 1,
		Size: loadgen.SizeRange{Min: 100, Max: 100}, Recipients: users,
	})
	if err == nil {
		t.Fatal("no error without a server")
	}
}
