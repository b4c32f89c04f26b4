package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestWebmailHostileHTML signs in to the webmail of the real binary in
// Debian's chromium (playwright-core from e2e/webmail) and opens an HTML
// message carrying a script, an event handler and a remote image, all
// pointing at a local server that counts what reaches it: none may, the
// text must show, and opening the message must mark it seen in the store.
// Then a message written in the page is sent to the account itself.
func TestWebmailHostileHTML(t *testing.T) {
	need(t, "node")
	chromium := "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; .ci/run should have installed it")
		}
		t.Skip("chromium is not installed")
	}
	if _, err := os.Stat(filepath.Join("webmail", "node_modules", "playwright-core")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("playwright-core is not installed; .ci/run should run npm ci in e2e/webmail")
		}
		t.Skip("playwright-core is not installed: run npm ci in e2e/webmail")
	}
	var hits atomic.Int64
	tracker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		t.Logf("the tracker was reached: %s %s", r.Method, r.URL)
	}))
	defer tracker.Close()

	data, config := newData(t, "")
	s := startServer(t, data, config)
	const user, pass = "alice@example.test", "alice-password-1"
	setupAccount(t, s, user, pass)
	html := fmt.Sprintf(`<html><head><title>mail</title><script>document.title="pwned";new Image().src="%[1]s/script"</script></head>
<body><p>Hello from a hostile sender.</p><img src="%[1]s/remote.png" onerror="fetch('%[1]s/onerror')">
<a href="https://example.org/">a link</a><div style="background:url(%[1]s/css)">styled</div></body></html>`, tracker.URL)
	msg := "From: Mallory <mallory@remote.test>\r\nTo: <" + user + ">\r\nSubject: hostile html\r\nMessage-ID: <hostile1@e2e.test>\r\n" +
		"Date: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		strings.ReplaceAll(html, "\n", "\r\n") + "\r\n"
	smtplibSend(t, pyJob{Port: s.port("smtp"), Messages: []pyMessage{{From: "mallory@remote.test", To: []string{user}, Data: b64([]byte(msg))}}})
	base := "http://" + s.addr("http")
	waitFor(t, 30*time.Second, "the message in the inbox", func() bool { return len(accountEmails(t, base, user, pass)) == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "read.mjs", base, user, pass, "hostile html")
	cmd.Dir = "webmail"
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("node read.mjs: %v\n%s\n%s", err, b, stderr.Bytes())
	}
	var out struct {
		Foreign       []string `json:"foreign"`
		ConsoleErrors []string `json:"consoleErrors"`
		UnreadBefore  bool     `json:"unreadBefore"`
		InboxCount    string   `json:"inboxCount"`
		Text          string   `json:"text"`
		Sandbox       string   `json:"sandbox"`
		LinkTarget    string   `json:"linkTarget"`
		LinkRel       string   `json:"linkRel"`
		Title         string   `json:"title"`
		Selected      string   `json:"selected"`
		AfterSend     string   `json:"afterSend"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("output of read.mjs: %v\n%s", err, b)
	}
	t.Logf("browser: %+v", out)
	if !out.UnreadBefore || out.InboxCount != "1" {
		t.Errorf("before opening: unread %v, inbox count %q", out.UnreadBefore, out.InboxCount)
	}
	if !strings.Contains(out.Text, "Hello from a hostile sender.") {
		t.Errorf("the frame shows %q", out.Text)
	}
	if strings.Contains(out.Sandbox, "allow-scripts") || strings.Contains(out.Sandbox, "allow-same-origin") {
		t.Errorf("iframe sandbox %q", out.Sandbox)
	}
	if out.LinkTarget != "_blank" || !strings.Contains(out.LinkRel, "noopener") {
		t.Errorf("link target %q rel %q", out.LinkTarget, out.LinkRel)
	}
	if out.Title == "pwned" {
		t.Error("the mail's script ran: it set the title")
	}
	if out.Selected != "hostile html" {
		t.Errorf("selected after k: %q", out.Selected)
	}
	if len(out.Foreign) != 0 {
		t.Errorf("requests left the page: %v", out.Foreign)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the tracker was reached %d times", n)
	}
	if out.AfterSend != "Message sent." {
		t.Errorf("after sending: %q", out.AfterSend)
	}
	// The sent message is filed in Sent and delivered back to the inbox.
	waitFor(t, 30*time.Second, "the sent message delivered", func() bool { return len(accountEmails(t, base, user, pass)) == 3 })
	for _, e := range accountEmails(t, base, user, pass) {
		switch {
		case e.Subject == "hostile html" && !e.Keywords["$seen"]:
			t.Errorf("not seen after opening: %+v", e)
		case e.Subject != "hostile html" && e.Subject != "sent from webmail":
			t.Errorf("unexpected message: %+v", e)
		}
	}
}

type jmapEmail struct {
	Subject  string          `json:"subject"`
	Keywords map[string]bool `json:"keywords"`
}

// accountEmails returns every message of the account, asked over JMAP.
func accountEmails(t *testing.T, base, user, pass string) []jmapEmail {
	t.Helper()
	var session struct {
		APIURL          string            `json:"apiUrl"`
		PrimaryAccounts map[string]string `json:"primaryAccounts"`
	}
	jmapDo(t, "GET", base+"/.well-known/jmap", user, pass, nil, &session)
	acct := session.PrimaryAccounts["urn:ietf:params:jmap:mail"]
	req := map[string]any{
		"using": []string{"urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"},
		"methodCalls": []any{
			[]any{"Email/query", map[string]any{"accountId": acct}, "q"},
			[]any{"Email/get", map[string]any{"accountId": acct, "properties": []string{"subject", "keywords"},
				"#ids": map[string]any{"resultOf": "q", "name": "Email/query", "path": "/ids"}}, "g"},
		},
	}
	var resp struct {
		MethodResponses []json.RawMessage `json:"methodResponses"`
	}
	api := session.APIURL
	if strings.HasPrefix(api, "/") {
		api = base + api
	}
	jmapDo(t, "POST", api, user, pass, req, &resp)
	var get []json.RawMessage
	if len(resp.MethodResponses) != 2 || json.Unmarshal(resp.MethodResponses[1], &get) != nil || len(get) != 3 {
		t.Fatalf("JMAP response: %s", resp.MethodResponses)
	}
	var args struct {
		List []jmapEmail `json:"list"`
	}
	if err := json.Unmarshal(get[1], &args); err != nil {
		t.Fatalf("Email/get: %v", err)
	}
	return args.List
}

func jmapDo(t *testing.T, method, url, user, pass string, body, out any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %s %s", method, url, resp.Status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: %v %s", method, url, err, b)
	}
}
