package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"casella/internal/blast"
)

// sieveConnect runs sieve-connect (Debian's independent ManageSieve
// client) against the server, giving it the password on a pipe.
func sieveConnect(t *testing.T, s *server, user, pass string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString(pass + "\n")
	w.Close()
	defer r.Close()
	full := append([]string{"--server", "127.0.0.1", "--port", s.port("managesieve"), "--user", user,
		"--passwordfd", "3", "--notlsverify", "--authmech", "PLAIN"}, args...)
	cmd := exec.CommandContext(ctx, "sieve-connect", full...)
	cmd.ExtraFiles = []*os.File{r}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestManageSieveClient drives the ManageSieve server with sieve-connect:
// upload, list, activate, download, and a broken script refused with its
// line number.
func TestManageSieveClient(t *testing.T) {
	need(t, "sieve-connect")
	data, config := newData(t, "")
	s := startServer(t, data, config)
	const user, pass = "sieve@example.test", "sieve-secret-1"
	setupAccount(t, s, user, pass)

	dir := t.TempDir()
	good := filepath.Join(dir, "good.sieve")
	os.WriteFile(good, []byte("require [\"fileinto\", \"imap4flags\", \"mailbox\"];\nif header :contains \"subject\" \"report\" {\n  fileinto :create :flags \"\\\\Seen\" \"Reports\";\n}\n"), 0o600)
	bad := filepath.Join(dir, "bad.sieve")
	os.WriteFile(bad, []byte("keep;\nif true {\n  fileinto \"x\";\n}\n"), 0o600)

	ok := func(args ...string) string {
		t.Helper()
		out, err := sieveConnect(t, s, user, pass, args...)
		if err != nil {
			t.Fatalf("sieve-connect %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	ok("--upload", "--localsieve", good, "--remotesieve", "filters")
	ok("--activate", "--remotesieve", "filters")
	if out := ok("--list"); !strings.Contains(out, "filters") || !strings.Contains(strings.ToLower(out), "active") {
		t.Errorf("list: %s", out)
	}
	back := filepath.Join(dir, "back.sieve")
	ok("--download", "--remotesieve", "filters", "--localsieve", back)
	if got, _ := os.ReadFile(back); !strings.Contains(string(got), "Reports") {
		t.Errorf("downloaded %q", got)
	}
	ok("--checkscript", "--localsieve", good)
	out, err := sieveConnect(t, s, user, pass, "--upload", "--localsieve", bad, "--remotesieve", "broken")
	if err == nil || !strings.Contains(out, "line 3") {
		t.Errorf("a broken script: %v\n%s", err, out)
	}
	if out := ok("--list"); strings.Contains(out, "broken") {
		t.Errorf("a broken script was stored: %s", out)
	}
	if out, err := sieveConnect(t, s, user, "wrong-password", "--list"); err == nil {
		t.Errorf("a wrong password listed scripts:\n%s", out)
	}

	// Mail through SMTP: the active script files the report, the other
	// message goes to INBOX. Delivery keeps each account's order, so once
	// the second is in INBOX the first has been filed.
	sc, err := smtp.Dial(s.addr("smtp"))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	for _, id := range []string{"report", "plain"} {
		if err := blast.Send(sc, "boss@remote.test", []string{user}, testMessage(id, "boss@remote.test", user, "Hello.")); err != nil {
			t.Fatalf("send %s: %v", id, err)
		}
	}
	waitFor(t, 60*time.Second, "delivery", func() bool { return countStored(t, s, user, pass, "INBOX") == 1 })
	if n := countStored(t, s, user, pass, "Reports"); n != 1 {
		t.Errorf("Reports holds %d messages, want 1", n)
	}
}

// TestSieveCrashSIGKILL kills the server while mail arrives for an account
// whose script files every message into two mailboxes: after the restarts
// each accepted message is in each mailbox exactly once.
func TestSieveCrashSIGKILL(t *testing.T) {
	need(t, "sieve-connect")
	data, config := newData(t, "")
	s := startServer(t, data, config)
	const user, pass = "crash@example.test", "crash-secret-1"
	setupAccount(t, s, user, pass)
	script := filepath.Join(t.TempDir(), "copy.sieve")
	os.WriteFile(script, []byte("require [\"fileinto\", \"copy\", \"mailbox\"];\nfileinto :copy :create \"Copies\";\n"), 0o600)
	for _, args := range [][]string{{"--upload", "--localsieve", script, "--remotesieve", "copy"}, {"--activate", "--remotesieve", "copy"}} {
		if out, err := sieveConnect(t, s, user, pass, args...); err != nil {
			t.Fatalf("sieve-connect: %v\n%s", err, out)
		}
	}

	accepted, attempted := map[string][]byte{}, map[string][]byte{}
	for round := range 3 {
		if round > 0 {
			s = startServer(t, data, config)
		}
		killAt := time.Duration(300+rand.IntN(1000)) * time.Millisecond
		killed := make(chan struct{})
		go func() {
			time.Sleep(killAt)
			s.kill()
			close(killed)
		}()
		acc, att := load(s.addr("smtp"), fmt.Sprintf("s%d", round), user, 10, 100)
		<-killed
		maps.Copy(accepted, acc)
		maps.Copy(attempted, att)
		t.Logf("round %d: killed after %v; %d accepted of %d attempted", round, killAt, len(acc), len(att))
	}
	s = startServer(t, data, config)
	waitFor(t, 120*time.Second, "the spool to drain", func() bool { return inboundDepth(t, s) == 0 })
	checkExactlyOnce(t, s, user, pass, accepted, attempted)
	checkExactlyOnceIn(t, s, user, pass, "Copies", accepted, attempted)
	t.Logf("%d accepted, each filed exactly once in INBOX and in Copies", len(accepted))
}

// TestSieveVacationOnce uploads a vacation script with sieve-connect and
// sends two messages from another account through SMTP: the sender
// receives one reply, not two, and it is marked as an auto-reply to the
// first message.
func TestSieveVacationOnce(t *testing.T) {
	need(t, "sieve-connect")
	data, config := newData(t, "")
	s := startServer(t, data, config)
	const away, awayPass = "away@example.test", "away-secret-1"
	const friend, friendPass = "friend@example.test", "friend-secret-1"
	setupAccount(t, s, away, awayPass)
	setupAccount(t, s, friend, friendPass)
	script := filepath.Join(t.TempDir(), "vacation.sieve")
	os.WriteFile(script, []byte("require \"vacation\";\nvacation :days 1 :subject \"Out of office\" \"Back on Monday.\";\n"), 0o600)
	for _, args := range [][]string{{"--upload", "--localsieve", script, "--remotesieve", "away"}, {"--activate", "--remotesieve", "away"}} {
		if out, err := sieveConnect(t, s, away, awayPass, args...); err != nil {
			t.Fatalf("sieve-connect: %v\n%s", err, out)
		}
	}
	sc, err := smtp.Dial(s.addr("smtp"))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	for _, id := range []string{"first", "second"} {
		if err := blast.Send(sc, friend, []string{away}, testMessage(id, friend, away, "Are you there?")); err != nil {
			t.Fatalf("send %s: %v", id, err)
		}
	}
	waitFor(t, 60*time.Second, "delivery", func() bool { return countStored(t, s, away, awayPass, "INBOX") == 2 })
	waitFor(t, 60*time.Second, "the vacation reply", func() bool { return countStored(t, s, friend, friendPass, "INBOX") >= 1 })
	// The second message was delivered after the first, whose reply is in;
	// give a wrong second reply time to arrive as well.
	time.Sleep(3 * time.Second)
	got := stored(t, s, friend, friendPass, "INBOX")
	if len(got) != 1 {
		t.Fatalf("the sender got %d replies, want 1", len(got))
	}
	for _, want := range []string{"Subject: Out of office", "Auto-Submitted: auto-replied", "In-Reply-To: <first@e2e.test>", "Back on Monday."} {
		if !strings.Contains(string(got[0]), want) {
			t.Errorf("the reply lacks %q:\n%s", want, got[0])
		}
	}
}

// TestSieveRejectAtSMTP sends through a real SMTP client to accounts
// whose active script rejects: a message with one recipient, which the
// script rejects from the message alone, is refused at the end of DATA
// with 550 5.7.1 and the script's reason (RFC 5429 section 2.1), and
// nothing is stored or sent for it; with a second recipient, or when the
// script needs the mailbox store (mailboxexists), the message is
// accepted and the rejection is a DSN, which reaches the sender here as
// the sender is local.
func TestSieveRejectAtSMTP(t *testing.T) {
	need(t, "sieve-connect")
	data, config := newData(t, "")
	s := startServer(t, data, config)
	accounts := map[string]string{
		"strict@example.test": "require \"reject\";\nif header :contains \"subject\" \"offer\" { reject \"No offers, thanks.\"; }\n",
		"boxes@example.test":  "require [\"reject\", \"mailbox\"];\nif not mailboxexists \"Offers\" { reject \"No Offers mailbox.\"; }\n",
		"other@example.test":  "",
	}
	const pass, friend = "reject-secret-1", "friend@example.test"
	setupAccount(t, s, friend, pass)
	for addr, src := range accounts {
		setupAccount(t, s, addr, pass)
		if src == "" {
			continue
		}
		file := filepath.Join(t.TempDir(), "reject.sieve")
		os.WriteFile(file, []byte(src), 0o600)
		for _, args := range [][]string{{"--upload", "--localsieve", file, "--remotesieve", "main"}, {"--activate", "--remotesieve", "main"}} {
			if out, err := sieveConnect(t, s, addr, pass, args...); err != nil {
				t.Fatalf("sieve-connect: %v\n%s", err, out)
			}
		}
	}
	send := func(id string, to ...string) error {
		t.Helper()
		sc, err := smtp.Dial(s.addr("smtp"))
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		return blast.Send(sc, friend, to, testMessage(id, friend, to[0], "Hello."))
	}

	err := send("offer1", "strict@example.test")
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) || se.Message != "No offers, thanks." {
		t.Fatalf("a message the script rejects: %v, want 550 5.7.1 No offers, thanks.", err)
	}
	for _, m := range []struct {
		id string
		to []string
	}{
		{"hello", []string{"strict@example.test"}},                        // not rejected: delivered
		{"offer2", []string{"strict@example.test", "other@example.test"}}, // two recipients: DSN
		{"offer3", []string{"boxes@example.test"}},                        // needs the store: DSN
	} {
		if err := send(m.id, m.to...); err != nil {
			t.Fatalf("send %s: %v", m.id, err)
		}
	}
	waitFor(t, 60*time.Second, "delivery", func() bool {
		return countStored(t, s, "strict@example.test", pass, "INBOX") == 1 && countStored(t, s, "other@example.test", pass, "INBOX") == 1 &&
			countStored(t, s, friend, pass, "INBOX") == 2
	})
	time.Sleep(2 * time.Second) // give a wrong extra message time to arrive
	if got := stored(t, s, "strict@example.test", pass, "INBOX"); len(got) != 1 || !strings.Contains(string(got[0]), "Subject: test hello") {
		t.Errorf("strict's INBOX holds %d messages, want only the one not rejected", len(got))
	}
	if n := countStored(t, s, "boxes@example.test", pass, "INBOX"); n != 0 {
		t.Errorf("boxes' INBOX holds %d messages, want 0", n)
	}
	dsns := stored(t, s, friend, pass, "INBOX")
	if len(dsns) != 2 {
		t.Fatalf("the sender got %d notices, want 2 (offer2, offer3), none for offer1", len(dsns))
	}
	for _, d := range dsns {
		if strings.Contains(string(d), "offer1@e2e.test") || !strings.Contains(string(d), "5.7.1") {
			t.Errorf("a notice is for offer1 or lacks 5.7.1:\n%s", d)
		}
	}
}

// sieveJMAP makes one JMAP Sieve call (RFC 9661) on the real binary and
// returns its arguments.
func sieveJMAP(t *testing.T, s *server, user, pass, method string, args map[string]any) map[string]any {
	t.Helper()
	base := "http://" + s.addr("http")
	var session struct {
		APIURL          string            `json:"apiUrl"`
		PrimaryAccounts map[string]string `json:"primaryAccounts"`
	}
	jmapDo(t, "GET", base+"/.well-known/jmap", user, pass, nil, &session)
	args["accountId"] = session.PrimaryAccounts["urn:ietf:params:jmap:sieve"]
	req := map[string]any{"using": []string{"urn:ietf:params:jmap:core", "urn:ietf:params:jmap:sieve"},
		"methodCalls": []any{[]any{method, args, "c"}}}
	var resp struct {
		MethodResponses [][]json.RawMessage `json:"methodResponses"`
	}
	api := session.APIURL
	if strings.HasPrefix(api, "/") {
		api = base + api
	}
	jmapDo(t, "POST", api, user, pass, req, &resp)
	var name string
	var out map[string]any
	if len(resp.MethodResponses) != 1 || json.Unmarshal(resp.MethodResponses[0][0], &name) != nil || name != method ||
		json.Unmarshal(resp.MethodResponses[0][1], &out) != nil {
		t.Fatalf("%s: %s", method, resp.MethodResponses)
	}
	return out
}

// TestSieveChangesOverManageSieve changes scripts with sieve-connect and
// follows them with JMAP on the same binary: SieveScript/changes reports
// the script created, then destroyed, and the event source pushes a
// StateChange for SieveScript when ManageSieve stores one.
func TestSieveChangesOverManageSieve(t *testing.T) {
	need(t, "sieve-connect")
	data, config := newData(t, "")
	s := startServer(t, data, config)
	const user, pass = "changes@example.test", "changes-secret-1"
	setupAccount(t, s, user, pass)
	s0 := sieveJMAP(t, s, user, pass, "SieveScript/get", map[string]any{})["state"].(string)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp := eventSource(ctx, t, s, user, pass, "SieveScript")
	defer resp.Body.Close()
	pushed := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(resp.Body)
		pushed <- string(b)
	}()

	file := filepath.Join(t.TempDir(), "filters.sieve")
	os.WriteFile(file, []byte("require \"fileinto\";\nif header :contains \"subject\" \"x\" { fileinto \"X\"; }\n"), 0o600)
	ok := func(args ...string) {
		t.Helper()
		if out, err := sieveConnect(t, s, user, pass, args...); err != nil {
			t.Fatalf("sieve-connect %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ok("--upload", "--localsieve", file, "--remotesieve", "filters")
	select {
	case body := <-pushed:
		if !strings.Contains(body, `"SieveScript":"`) {
			t.Errorf("the push after PUTSCRIPT: %q", body)
		}
	case <-ctx.Done():
		t.Fatal("no StateChange for SieveScript after PUTSCRIPT")
	}
	ok("--activate", "--remotesieve", "filters")
	got := sieveJMAP(t, s, user, pass, "SieveScript/get", map[string]any{})
	list := got["list"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["isActive"] != true {
		t.Fatalf("get: %v", got)
	}
	id, s1 := list[0].(map[string]any)["id"].(string), got["state"].(string)
	ch := sieveJMAP(t, s, user, pass, "SieveScript/changes", map[string]any{"sinceState": s0})
	if fmt.Sprint(ch["created"]) != "["+id+"]" || len(ch["updated"].([]any))+len(ch["destroyed"].([]any)) != 0 || ch["newState"] != s1 {
		t.Errorf("changes since %s: %v", s0, ch)
	}
	ok("--deactivate")
	ok("--delete", "--remotesieve", "filters")
	ch = sieveJMAP(t, s, user, pass, "SieveScript/changes", map[string]any{"sinceState": s1})
	if fmt.Sprint(ch["destroyed"]) != "["+id+"]" || len(ch["created"].([]any))+len(ch["updated"].([]any)) != 0 {
		t.Errorf("changes since %s: %v", s1, ch)
	}
	// From the start the script was created and destroyed: no change.
	ch = sieveJMAP(t, s, user, pass, "SieveScript/changes", map[string]any{"sinceState": s0})
	if n := len(ch["created"].([]any)) + len(ch["updated"].([]any)) + len(ch["destroyed"].([]any)); n != 0 {
		t.Errorf("changes since %s: %v", s0, ch)
	}
}
