package delivery

import (
	"context"
	"testing"
	"time"

	"casella/internal/directory"
	"casella/internal/spool"
)

// An alias with an account and an outside target: the account's task is
// left for the mailboxes, the outside copy is queued once, SRS-rewritten,
// DKIM-signed and ARC-sealed by the alias's domain, also when the
// delivery is replayed, with the sender's REQUIRETLS; a copy that comes
// back through the alias is dropped as a loop.
func TestForwardAliases(t *testing.T) {
	ctx := context.Background()
	o := outSetup(t, nil)
	s := o.d.Sender
	dir := s.Directory.(directory.Directory)
	if err := dir.AddAlias(ctx, "team@example.com", []string{"u1@example.com", "friend@example.net"}); err != nil {
		t.Fatal(err)
	}
	rs, err := dir.Resolve(ctx, "team@example.com")
	if err != nil {
		t.Fatal(err)
	}
	env := spool.Envelope{From: "alice@example.org", Received: time.Unix(1700000000, 0), RequireTLS: true}
	fwd := -1
	for i, r := range rs {
		if r.Forward != "" {
			fwd = i
		}
		env.Recipients = append(env.Recipients, spool.Recipient{Address: "team@example.com", Account: int64(r.Account.ID), Forward: r.Forward})
	}
	if len(rs) != 2 || fwd < 0 {
		t.Fatalf("team@example.com resolves to %+v", rs)
	}
	entry := &spool.Entry{ID: "00000001700000000000-0123456789ab", Envelope: env}
	batch := []spool.Task{{Entry: entry, Data: []byte(arrived), Rcpt: 0}, {Entry: entry, Data: []byte(arrived), Rcpt: 1}}

	for range 2 { // the second time a replay
		rest, err := s.ForwardAliases(ctx, batch, quiet())
		if err != nil {
			t.Fatal(err)
		}
		if len(rest) != 1 || rest[0].Entry.Envelope.Recipients[rest[0].Rcpt].Account != int64(o.acct["u1"]) {
			t.Fatalf("tasks left for the mailboxes: %+v", rest)
		}
	}
	msg := o.forwarded(t, "friend@example.net", "team@example.com")
	// The sender's REQUIRETLS goes on with the copy (RFC 8689).
	if list, _ := o.queued(t); len(list) != 1 || !list[0].Envelope.RequireTLS {
		t.Fatalf("forwarded copy without the sender's REQUIRETLS: %+v", list)
	}

	back := &spool.Entry{ID: "00000001700000000001-0123456789ab", Envelope: env}
	if _, err := s.ForwardAliases(ctx, []spool.Task{{Entry: back, Data: msg, Rcpt: fwd}}, quiet()); err != nil {
		t.Fatal(err)
	}
	if list, _ := o.queued(t); len(list) != 1 {
		t.Fatalf("a looping message was forwarded again: %d entries queued", len(list))
	}
}
