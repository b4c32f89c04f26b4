package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"casella/internal/server"
	"casella/internal/spool"
)

func TestQueueCommands(t *testing.T) {
	a := admin{t, filepath.Join(t.TempDir(), "data")}
	a.ok("domain", "add", "example.com")
	sp, err := spool.Open(filepath.Join(a.dir, server.SpoolDir), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	env := spool.Envelope{From: "bob@remote.example", Recipients: []spool.Recipient{{Address: "alice@example.com", Account: 1}}, Received: time.Now()}
	var ids []string
	for i := range 2 {
		id, err := sp.Enqueue(t.Context(), env, []byte("Subject: queued "+string(rune('A'+i))+"\r\n\r\nbody\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}

	out := a.ok("queue", "list")
	for _, id := range ids {
		if !strings.Contains(out, id) {
			t.Fatalf("queue list lacks %s:\n%s", id, out)
		}
	}
	if out := a.ok("queue", "show", ids[0]); !strings.Contains(out, "alice@example.com") || !strings.Contains(out, "bob@remote.example") {
		t.Fatalf("queue show:\n%s", out)
	}
	if out := a.ok("queue", "retry", ids[0], ids[1]); strings.Count(out, "inbound: retrying ") != 2 {
		t.Fatalf("queue retry:\n%s", out)
	}
	a.fail(2, []string{"queue", "remove", ids[0]}, "--yes")
	a.fail(1, []string{"queue", "retry", "0000000000000000000-nosuch"}, "0000000000000000000-nosuch")
	if out := a.ok("queue", "remove", "--yes", ids[0]); !strings.Contains(out, "inbound: removed "+ids[0]) {
		t.Fatalf("queue remove:\n%s", out)
	}
	out = a.ok("queue", "list")
	if strings.Contains(out, ids[0]) || !strings.Contains(out, ids[1]) {
		t.Fatalf("queue list after remove:\n%s", out)
	}

	// A message its sender holds (JMAP's sendAt) shows when it leaves.
	env.HoldUntil = time.Now().Add(time.Hour)
	if _, err := sp.Enqueue(t.Context(), env, []byte("Subject: later\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	if out := a.ok("queue", "list"); !strings.Contains(out, "held 59m") && !strings.Contains(out, "held 1h0m0s") {
		t.Fatalf("queue list with a held message:\n%s", out)
	}
}
