package smtp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/directory/sqlitedir"
	"casella/internal/spool"
	"casella/internal/tlsconf"
)

// TestRealSpoolAndDirectory runs submission against the SQLite directory
// and two real spools, then relays the outbound entry through the spool's
// delivery loop to a smarthost that refuses it, and checks that the DSN
// lands durably in the inbound spool.
func TestRealSpoolAndDirectory(t *testing.T) {
	ctx := context.Background()
	dir, err := sqlitedir.Open(filepath.Join(t.TempDir(), "dir.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	if _, err := dir.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	alice, err := dir.AddAccount(ctx, "alice@example.test", "alice-password", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddAccount(ctx, "bob@example.test", "bob-password", 0, ""); err != nil {
		t.Fatal(err)
	}

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	inbound, err := spool.Open(filepath.Join(t.TempDir(), "in"), spool.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	h := startSmarthost(t, false)
	relay := &Relay{Smarthost: h.addr, Username: "relayuser", Password: "relaypw", TLSConfig: clientTLS(),
		Hostname: "mx.example.test", Logger: log, Bounce: inbound, Directory: dir}
	outbound, err := spool.Open(filepath.Join(t.TempDir(), "out"), spool.Options{Logger: log, OnPermanent: relay.OnPermanent})
	if err != nil {
		t.Fatal(err)
	}
	relay.Queue = outbound

	tlsCfg, err := tlsconf.Load("", "", t.TempDir(), "localhost")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Hostname: "mx.example.test", Directory: dir, Spool: inbound, Outbound: outbound, TLS: tlsCfg, Logger: log})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeSubmission(l)
	defer srv.Shutdown(ctx)

	c, err := gosmtp.DialStartTLS(l.Addr().String(), clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(saslPlain("alice@example.test", "alice-password")); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("alice@example.test", []string{"bob@example.test", "reject@remote.test"}, strings.NewReader(testMsg)); err != nil {
		t.Fatal(err)
	}
	c.Quit()

	in, err := inbound.List(ctx)
	if err != nil || len(in) != 1 || in[0].Envelope.Recipients[0].Address != "bob@example.test" {
		t.Fatalf("inbound spool %+v, %v", in, err)
	}
	_, data, err := inbound.Get(ctx, in[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	splitReceived(t, data, testMsg)

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- outbound.Run(runCtx, relay) }()
	// Wait for the loop to refuse the entry and bounce it: the DSN is
	// the second inbound entry.
	var dsn spool.Entry
	for i := 0; ; i++ {
		in, err = inbound.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(in) == 2 {
			dsn = in[1]
			break
		}
		if i == 3000 {
			t.Fatal("no DSN in the inbound spool")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if dsn.Envelope.From != "" || dsn.Envelope.Recipients[0].Account != int64(alice.ID) {
		t.Fatalf("DSN envelope %+v", dsn.Envelope)
	}
	_, data, err = inbound.Get(ctx, dsn.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkDSN(t, data, "reject@remote.test", "5.1.1")
}
