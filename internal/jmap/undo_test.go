package jmap

import (
	"bufio"
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"casella/internal/directory/sqlitedir"
	"casella/internal/spool"
)

// sink is a spool handler that records the entries it delivered.
type sink struct {
	mu  sync.Mutex
	ids []string
}

func (s *sink) Handle(ctx context.Context, e *spool.Entry, data []byte, rcpt int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, e.ID)
	return nil
}

func (s *sink) delivered() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids)
}

// runSpool opens a spool in dir whose loop delivers to a sink.
func runSpool(t *testing.T, dir string) (*spool.Spool, *sink) {
	t.Helper()
	sp, err := spool.Open(dir, spool.Options{PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h := &sink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sp.Run(ctx, h); close(done) }()
	t.Cleanup(func() { cancel(); <-done; sp.Close() })
	return sp, h
}

// pushEvents opens alice's event source for changes of types (a
// comma-separated list), for 30 s at most, and returns the data of its
// events.
func pushEvents(t *testing.T, e *testEnv, types string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.http.URL+Prefix+"/eventsource?types="+types, nil)
	req.SetBasicAuth(testUser, testPass)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stream.Body.Close() })
	events := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stream.Body)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				select {
				case events <- l:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return events
}

// submissionRig opens a directory with the accounts, whose ids then
// are those of testAuth, and an intake spool and an outbound queue whose
// loops deliver to sinks.
func submissionRig(t *testing.T, accounts ...string) (recs *sqlitedir.Dir, inbound *spool.Spool, inSink *sink, outbound *spool.Spool, outSink *sink) {
	t.Helper()
	dir := t.TempDir()
	recs, err := sqlitedir.Open(filepath.Join(dir, "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { recs.Close() })
	if _, err := recs.AddDomain(t.Context(), "example.org"); err != nil {
		t.Fatal(err)
	}
	for _, u := range accounts {
		if _, err := recs.AddAccount(t.Context(), u, "x", 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	inbound, inSink = runSpool(t, filepath.Join(dir, "spool"))
	outbound, outSink = runSpool(t, filepath.Join(dir, "queue"))
	return recs, inbound, inSink, outbound, outSink
}

// Held submissions: pending until sendAt, canceled by an update and
// then never delivered, final once they leave, with their records
// readable by /get, /changes and /query, and their changes pushed.
func TestEmailSubmissionUndo(t *testing.T) {
	e := newTestEnv(t)
	recs, inbound, inSink, outbound, outSink := submissionRig(t, testUser, "bob@example.org")
	e.srv.Submission = &Submission{Directory: e.srv.Auth.(testAuth), Spool: inbound, Outbound: outbound, Records: recs,
		SpoolHold: inbound, OutboundHold: outbound, MaxDelayedSend: time.Hour, UndoWindow: 3 * time.Second}

	resp := e.do("GET", "/.well-known/jmap", "")
	sess := decode(t, resp.Body)
	subCap := sess["accounts"].(map[string]any)["A1"].(map[string]any)["accountCapabilities"].(map[string]any)[capSubmission].(map[string]any)
	if subCap["maxDelayedSend"] != float64(3600) || subCap["submissionExtensions"].(map[string]any)["FUTURERELEASE"] == nil {
		t.Fatalf("submission capability: %v", subCap)
	}

	identity := e.call1("Identity/get", map[string]any{})["list"].([]any)[0].(map[string]any)["id"].(string)
	drafts := e.mailboxID("Drafts")
	draft := func(subject string) map[string]any {
		return map[string]any{"mailboxIds": map[string]bool{drafts: true}, "from": []any{map[string]any{"email": testUser}},
			"to": []any{map[string]any{"email": "bob@example.org"}, map[string]any{"email": "carol@elsewhere.test"}}, "subject": subject}
	}
	hold := func(v any) map[string]any {
		return map[string]any{"mailFrom": map[string]any{"email": testUser, "parameters": map[string]any{"holdFor": v}},
			"rcptTo": []any{map[string]any{"email": "bob@example.org"}, map[string]any{"email": "carol@elsewhere.test"}}}
	}
	state0 := e.call1("EmailSubmission/get", map[string]any{})["state"].(string)
	start := time.Now()
	r := e.api(
		[]any{"Email/set", map[string]any{"create": map[string]any{"a": draft("kept"), "b": draft("undone"), "c": draft("now")}}, "0"},
		[]any{"EmailSubmission/set", map[string]any{"create": map[string]any{
			"kept":   map[string]any{"identityId": identity, "emailId": "#a", "envelope": hold("3")},
			"undone": map[string]any{"identityId": identity, "emailId": "#b", "envelope": hold(nil)},
			"now":    map[string]any{"identityId": identity, "emailId": "#c"},
			"long":   map[string]any{"identityId": identity, "emailId": "#c", "envelope": hold("7200")},
			"bad":    map[string]any{"identityId": identity, "emailId": "#c", "envelope": hold("soon")},
			"sendAt": map[string]any{"identityId": identity, "emailId": "#c", "sendAt": "2030-01-01T00:00:00Z"},
		}}, "1"},
	)
	set := r[1][1].(map[string]any)
	created := set["created"].(map[string]any)
	if len(created) != 3 {
		t.Fatalf("EmailSubmission/set: %v", set)
	}
	for _, cid := range []string{"long", "bad", "sendAt"} {
		if typ := set["notCreated"].(map[string]any)[cid].(map[string]any)["type"]; typ != "invalidProperties" {
			t.Errorf("submission %s: %v, want invalidProperties", cid, typ)
		}
	}
	id := func(cid string) string { return created[cid].(map[string]any)["id"].(string) }
	for cid, want := range map[string]string{"kept": "pending", "undone": "pending", "now": "final"} {
		if got := created[cid].(map[string]any)["undoStatus"]; got != want {
			t.Errorf("%s: undoStatus %v, want %s", cid, got, want)
		}
	}
	sendAt, _ := time.Parse(time.RFC3339, created["kept"].(map[string]any)["sendAt"].(string))
	if d := sendAt.Sub(start); d < 2*time.Second || d > 5*time.Second {
		t.Errorf("sendAt %v is %v after the request, want about 3s", sendAt, d)
	}
	if set["oldState"] != state0 || set["newState"] == state0 {
		t.Errorf("states of EmailSubmission/set: %v -> %v", set["oldState"], set["newState"])
	}

	// Push of EmailSubmission changes, from now on.
	events := pushEvents(t, e, "EmailSubmission")

	// Cancel one; the final one cannot be.
	state1 := set["newState"].(string)
	r = e.api([]any{"EmailSubmission/set", map[string]any{"update": map[string]any{
		id("undone"): map[string]any{"undoStatus": "canceled"},
		id("now"):    map[string]any{"undoStatus": "canceled"},
		"Snone":      map[string]any{"undoStatus": "canceled"},
		id("kept"):   map[string]any{"emailId": "E1"},
	}, "onSuccessDestroyEmail": []string{id("undone")}}, "2"})
	upd := r[0][1].(map[string]any)
	if _, ok := upd["updated"].(map[string]any)[id("undone")]; !ok {
		t.Fatalf("cancel: %v", upd)
	}
	nu := upd["notUpdated"].(map[string]any)
	for sid, want := range map[string]string{id("now"): "cannotUnsend", "Snone": "notFound", id("kept"): "invalidProperties"} {
		if got := nu[sid].(map[string]any)["type"]; got != want {
			t.Errorf("update of %s: %v, want %s", sid, got, want)
		}
	}
	if len(r) != 2 || r[1][0] != "Email/set" || len(r[1][1].(map[string]any)["destroyed"].([]any)) != 1 {
		t.Errorf("onSuccessDestroyEmail after a cancel: %v", r)
	}
	select {
	case ev := <-events:
		if !strings.Contains(ev, `"EmailSubmission":"`) {
			t.Errorf("push after cancel: %s", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no push after a cancel")
	}
	ch := e.call1("EmailSubmission/changes", map[string]any{"sinceState": state1})
	if !slices.Equal(toStrings(ch["updated"]), []string{id("undone")}) || len(toStrings(ch["created"])) != 0 {
		t.Errorf("changes after cancel: %v", ch)
	}

	q := e.call1("EmailSubmission/query", map[string]any{"filter": map[string]any{"undoStatus": "pending"}})
	if !slices.Equal(toStrings(q["ids"]), []string{id("kept")}) {
		t.Errorf("query pending: %v", q)
	}
	q = e.call1("EmailSubmission/query", map[string]any{"filter": map[string]any{"operator": "NOT", "conditions": []any{
		map[string]any{"emailIds": []string{created["now"].(map[string]any)["id"].(string)}},
		map[string]any{"after": utcDate(start.Add(2 * time.Second))}}},
		"sort": []any{map[string]any{"property": "sentAt", "isAscending": false}}})
	if got := toStrings(q["ids"]); !slices.Equal(got, []string{id("now")}) {
		t.Errorf("query NOT after: %v, want [%s]", got, id("now"))
	}
	for _, bad := range []map[string]any{
		{"filter": map[string]any{"subject": "x"}},
		{"filter": map[string]any{"before": "yesterday"}},
		{"sort": []any{map[string]any{"property": "subject"}}},
	} {
		if typ := e.callErr("EmailSubmission/query", bad); typ != "unsupportedFilter" && typ != "unsupportedSort" {
			t.Errorf("query %v: %s", bad, typ)
		}
	}

	// Once the hold ends the kept one leaves, final, and is pushed; the
	// canceled one never leaves.
	select {
	case ev := <-events:
		if !strings.Contains(ev, `"EmailSubmission":"`) {
			t.Errorf("push at release: %s", ev)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no push when the held submission left")
	}
	if time.Now().Before(sendAt) {
		t.Errorf("released before sendAt")
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(inSink.delivered()) < 2 || len(outSink.delivered()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("deliveries: inbound %v outbound %v", inSink.delivered(), outSink.delivered())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // past the undo window of the canceled one too
	got := e.call1("EmailSubmission/get", map[string]any{"ids": []string{id("kept"), id("undone"), id("now")}})
	status := map[string]string{}
	for _, o := range got["list"].([]any) {
		status[o.(map[string]any)["id"].(string)] = o.(map[string]any)["undoStatus"].(string)
	}
	if status[id("kept")] != "final" || status[id("undone")] != "canceled" || status[id("now")] != "final" {
		t.Errorf("statuses after the window: %v", status)
	}
	if n := len(inSink.delivered()) + len(outSink.delivered()); n != 4 {
		t.Errorf("%d deliveries, want 4 (2 submissions x 2 queues): inbound %v outbound %v", n, inSink.delivered(), outSink.delivered())
	}
	r = e.api([]any{"EmailSubmission/set", map[string]any{"update": map[string]any{id("kept"): map[string]any{"undoStatus": "canceled"}},
		"destroy": []string{id("now"), id("now") + "x"}, "onSuccessUpdateEmail": map[string]any{id("now"): map[string]any{"keywords/$seen": true}}}, "3"})
	upd = r[0][1].(map[string]any)
	if len(r) != 2 || len(r[1][1].(map[string]any)["updated"].(map[string]any)) != 1 {
		t.Errorf("onSuccessUpdateEmail after a destroy: %v", r)
	}
	if upd["notUpdated"].(map[string]any)[id("kept")].(map[string]any)["type"] != "cannotUnsend" {
		t.Errorf("cancel after it left: %v", upd)
	}
	if !slices.Equal(toStrings(upd["destroyed"]), []string{id("now")}) || upd["notDestroyed"].(map[string]any)[id("now")+"x"] == nil {
		t.Errorf("destroy: %v", upd)
	}
	ch = e.call1("EmailSubmission/changes", map[string]any{"sinceState": state0, "maxChanges": 1})
	if ch["hasMoreChanges"] != true || len(toStrings(ch["created"]))+len(toStrings(ch["updated"])) != 1 {
		t.Errorf("changes with maxChanges 1: %v", ch)
	}
	ch = e.call1("EmailSubmission/changes", map[string]any{"sinceState": state1})
	if !slices.Contains(toStrings(ch["destroyed"]), id("now")) || !slices.Contains(toStrings(ch["updated"]), id("kept")) {
		t.Errorf("changes: %v", ch)
	}
	if typ := e.callErr("EmailSubmission/changes", map[string]any{"sinceState": "999"}); typ != "cannotCalculateChanges" {
		t.Errorf("changes from a future state: %s", typ)
	}
}

// In a cluster each node queues on its own disk: a held submission is
// canceled only through the node that holds it, never reported canceled
// by another that cannot reach it.
func TestEmailSubmissionUndoOtherNode(t *testing.T) {
	e := newTestEnv(t)
	recs, inbound, inSink, outbound, _ := submissionRig(t, testUser)
	var mu sync.Mutex
	node := "n1"
	e.srv.Submission = &Submission{Directory: e.srv.Auth.(testAuth), Spool: inbound, Outbound: outbound, Records: recs,
		SpoolHold: inbound, OutboundHold: outbound, MaxDelayedSend: time.Hour,
		Node: func() string { mu.Lock(); defer mu.Unlock(); return node }}
	identity := e.call1("Identity/get", map[string]any{})["list"].([]any)[0].(map[string]any)["id"].(string)
	r := e.api(
		[]any{"Email/set", map[string]any{"create": map[string]any{"a": map[string]any{"mailboxIds": map[string]bool{e.mailboxID("Drafts"): true},
			"from": []any{map[string]any{"email": testUser}}, "to": []any{map[string]any{"email": testUser}}, "subject": "held"}}}, "0"},
		[]any{"EmailSubmission/set", map[string]any{"create": map[string]any{"s": map[string]any{"identityId": identity, "emailId": "#a",
			"envelope": map[string]any{"mailFrom": map[string]any{"email": testUser, "parameters": map[string]any{"HOLDFOR": "60"}},
				"rcptTo": []any{map[string]any{"email": testUser}}}}}}, "1"})
	id := r[1][1].(map[string]any)["created"].(map[string]any)["s"].(map[string]any)["id"].(string)

	mu.Lock()
	node = "n2"
	mu.Unlock()
	cancel := func() map[string]any {
		return e.call1("EmailSubmission/set", map[string]any{"update": map[string]any{id: map[string]any{"undoStatus": "canceled"}}})
	}
	serr := cancel()["notUpdated"].(map[string]any)[id].(map[string]any)
	if serr["type"] != "cannotUnsend" || !strings.Contains(serr["description"].(string), "n1") {
		t.Fatalf("cancel through another node: %v", serr)
	}
	if l, _ := inbound.List(t.Context()); len(l) != 1 {
		t.Fatalf("the held entry is gone after a refused cancel: %v", l)
	}
	mu.Lock()
	node = "n1"
	mu.Unlock()
	if upd := cancel(); upd["updated"].(map[string]any)[id] != nil || len(upd["updated"].(map[string]any)) != 1 {
		t.Fatalf("cancel through the holding node: %v", upd)
	}
	if l, _ := inbound.List(t.Context()); len(l) != 0 || len(inSink.delivered()) != 0 {
		t.Fatalf("after cancel: queued %v, delivered %v", l, inSink.delivered())
	}
}

// An expired submission is destroyed in /changes; once its tombstone is
// gone too, /changes from a state before it is cannotCalculateChanges,
// and from a later one it still answers.
func TestEmailSubmissionExpired(t *testing.T) {
	e := newTestEnv(t)
	recs, inbound, _, outbound, _ := submissionRig(t, testUser, "bob@example.org")
	e.srv.Submission = &Submission{Directory: e.srv.Auth.(testAuth), Spool: inbound, Outbound: outbound, Records: recs}
	identity := e.call1("Identity/get", map[string]any{})["list"].([]any)[0].(map[string]any)["id"].(string)
	state0 := e.call1("EmailSubmission/get", map[string]any{})["state"].(string)
	r := e.api(
		[]any{"Email/set", map[string]any{"create": map[string]any{"a": map[string]any{"mailboxIds": map[string]bool{e.mailboxID("Drafts"): true},
			"from": []any{map[string]any{"email": testUser}}, "to": []any{map[string]any{"email": "bob@example.org"}}, "subject": "old"}}}, "0"},
		[]any{"EmailSubmission/set", map[string]any{"create": map[string]any{"s": map[string]any{"identityId": identity, "emailId": "#a"}}}, "1"},
	)
	id := r[1][1].(map[string]any)["created"].(map[string]any)["s"].(map[string]any)["id"].(string)
	state1 := r[1][1].(map[string]any)["newState"].(string)

	if n, _, err := recs.ExpireSubmissions(t.Context(), time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("expiry destroyed %d, %v; want 1", n, err)
	}
	ch := e.call1("EmailSubmission/changes", map[string]any{"sinceState": state1})
	if !slices.Equal(toStrings(ch["destroyed"]), []string{id}) {
		t.Fatalf("changes after expiry: %v", ch)
	}
	state2 := ch["newState"].(string)
	if l := e.call1("EmailSubmission/get", map[string]any{})["list"].([]any); len(l) != 0 {
		t.Errorf("records after expiry: %v", l)
	}

	if _, n, err := recs.ExpireSubmissions(t.Context(), time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("expiry removed %d tombstones, %v; want 1", n, err)
	}
	for _, since := range []string{state0, state1} {
		if typ := e.callErr("EmailSubmission/changes", map[string]any{"sinceState": since}); typ != "cannotCalculateChanges" {
			t.Errorf("changes since %s, before the removed tombstone: %s", since, typ)
		}
	}
	ch = e.call1("EmailSubmission/changes", map[string]any{"sinceState": state2})
	if ch["newState"] != state2 || len(toStrings(ch["destroyed"])) != 0 {
		t.Errorf("changes since the expiry: %v", ch)
	}
}
