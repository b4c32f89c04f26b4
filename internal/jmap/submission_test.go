package jmap

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"casella/internal/limit"
	"casella/internal/spool"
)

func TestEmailSubmission(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	dir := t.TempDir()
	inbound, err := spool.Open(filepath.Join(dir, "spool"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer inbound.Close()
	outbound, err := spool.Open(filepath.Join(dir, "queue"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer outbound.Close()
	e.srv.Submission = &Submission{Directory: e.srv.Auth.(testAuth), Spool: inbound, Outbound: outbound, SendRate: limit.NewRate(1, time.Hour)}

	drafts, sent := e.mailboxID("Drafts"), e.mailboxID("Sent")
	identity := e.call1("Identity/get", map[string]any{})["list"].([]any)[0].(map[string]any)["id"].(string)
	r := e.api(
		[]any{"Email/set", map[string]any{"create": map[string]any{
			"d": map[string]any{
				"mailboxIds": map[string]bool{drafts: true}, "keywords": map[string]bool{"$draft": true},
				"from": []any{map[string]any{"email": testUser}}, "to": []any{map[string]any{"email": "bob@example.org"}},
				"bcc":      []any{map[string]any{"email": "carol@elsewhere.test"}},
				"subject":  "Lunch",
				"textBody": []any{map[string]any{"partId": "1"}}, "bodyValues": map[string]any{"1": map[string]any{"value": "At noon?"}},
			},
			"forged": map[string]any{
				"mailboxIds": map[string]bool{drafts: true}, "from": []any{map[string]any{"email": "boss@example.org"}},
				"to": []any{map[string]any{"email": "bob@example.org"}},
			},
		}}, "0"},
		[]any{"EmailSubmission/set", map[string]any{
			"create": map[string]any{
				"s":  map[string]any{"identityId": identity, "emailId": "#d"},
				"s2": map[string]any{"identityId": identity, "emailId": "#forged"},
				"s3": map[string]any{"identityId": identity, "emailId": "#d", "envelope": map[string]any{"mailFrom": map[string]any{"email": testUser}, "rcptTo": []any{map[string]any{"email": "nobody@example.org"}}}},
			},
			"onSuccessUpdateEmail": map[string]any{"#s": map[string]any{"mailboxIds/" + drafts: nil, "mailboxIds/" + sent: true, "keywords/$draft": nil}},
		}, "1"},
	)
	if len(r) != 3 || r[1][0] != "EmailSubmission/set" || r[2][0] != "Email/set" || r[2][2] != "1" {
		t.Fatalf("responses: %v", r)
	}
	sub := r[1][1].(map[string]any)
	if sub["created"].(map[string]any)["s"] == nil {
		t.Fatalf("submission: %v", sub)
	}
	nc := sub["notCreated"].(map[string]any)
	if nc["s2"].(map[string]any)["type"] != "forbiddenFrom" || nc["s3"].(map[string]any)["type"] != "invalidRecipients" {
		t.Errorf("refused submissions: %v", nc)
	}
	if len(r[2][1].(map[string]any)["updated"].(map[string]any)) != 1 {
		t.Errorf("implicit Email/set: %v", r[2][1])
	}
	if mb, _ := e.store.Mailbox(context.Background(), 1, "Sent"); mb.Messages != 1 {
		t.Errorf("Sent has %d messages after onSuccessUpdateEmail", mb.Messages)
	}
	// bob is local: the intake spool; carol is not: the outbound queue.
	ctx := context.Background()
	in, _ := inbound.List(ctx)
	out, _ := outbound.List(ctx)
	if len(in) != 1 || len(out) != 1 || in[0].Envelope.Recipients[0].Account != 2 || out[0].Envelope.Recipients[0].Address != "carol@elsewhere.test" ||
		out[0].Envelope.From != testUser {
		t.Fatalf("queued: inbound %+v outbound %+v", in, out)
	}
	_, data, err := outbound.Get(ctx, out[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToLower(string(data)), "bcc:") || !strings.Contains(string(data), "At noon?") {
		t.Errorf("sent message:\n%s", data)
	}
	// The account's one remote recipient an hour is spent.
	again := e.call1("EmailSubmission/set", map[string]any{"create": map[string]any{"s": map[string]any{"identityId": identity,
		"emailId": toStrings(e.call1("Email/query", map[string]any{"filter": map[string]any{"subject": "Lunch"}})["ids"])[0]}}})
	if again["notCreated"].(map[string]any)["s"].(map[string]any)["type"] != "forbiddenToSend" {
		t.Errorf("over the sending limit: %v", again)
	}
}
