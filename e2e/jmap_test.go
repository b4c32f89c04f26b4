package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestJMAPWithJam drives a full JMAP session with jmap-jam, an independent
// client from npm (e2e/jmap, installed by .ci/run with npm ci), against the
// real binary: mail delivered over SMTP is listed, read, flagged, moved and
// pushed; a message is uploaded and imported; one is written, sent with
// EmailSubmission, filed in Sent and delivered back to the inbox, which its
// deliveryStatus says (yes, 250); two are
// sent held and one of them undone, which never arrives. jmap-jam logs in
// with an app password made by "casella account token add", as a bearer
// token.
func TestJMAPWithJam(t *testing.T) {
	need(t, "node")
	if _, err := os.Stat(filepath.Join("jmap", "node_modules", "jmap-jam")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("jmap-jam is not installed; .ci/run should run npm ci in e2e/jmap")
		}
		t.Skip("jmap-jam is not installed: run npm ci in e2e/jmap")
	}
	data, config := newData(t, "")
	s := startServer(t, data, config)
	const user, pass = "alice@example.test", "alice-password-1"
	setupAccount(t, s, user, pass)
	token := regexp.MustCompile(`(?m)^token: (\S+)$`).FindStringSubmatch(s.casella("account", "token", "add", "--name", "jam", user))
	if token == nil {
		t.Fatal("account token add printed no token")
	}
	msg := testMessage("jam1", "bob@remote.test", user, "Hello from SMTP.")
	smtplibSend(t, pyJob{Port: s.port("smtp"), Messages: []pyMessage{{From: "bob@remote.test", To: []string{user}, Data: b64(msg)}}})

	url := "http://" + s.addr("http") + "/.well-known/jmap"
	var out struct {
		AccountID           string   `json:"accountId"`
		Mailboxes           []string `json:"mailboxes"`
		InboxTotal          int      `json:"inboxTotal"`
		Subject             string   `json:"subject"`
		From                string   `json:"from"`
		Body                string   `json:"body"`
		Keywords            []string `json:"keywords"`
		InArchive           bool     `json:"inArchive"`
		Pushed              bool     `json:"pushed"`
		DraftSubject        string   `json:"draftSubject"`
		Download            bool     `json:"download"`
		DownloadDisposition string   `json:"downloadDisposition"`
		ChangesError        string   `json:"changesError"`
		Submitted           bool     `json:"submitted"`
		DeliveryStatus      string   `json:"deliveryStatus"`
		Arrived             bool     `json:"arrived"`
		InSent              int      `json:"inSent"`
		HeldStatus          []string `json:"heldStatus"`
		Canceled            bool     `json:"canceled"`
		KeptArrived         int      `json:"keptArrived"`
		CanceledArrived     int      `json:"canceledArrived"`
		AfterStatus         []string `json:"afterStatus"`
		CanceledQuery       bool     `json:"canceledQuery"`
		LateCancel          string   `json:"lateCancel"`
	}
	// Delivery from the spool is asynchronous: wait until the inbox has it.
	waitFor(t, 30*time.Second, "the message in the inbox", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "node", "session.mjs", url, user, token[1])
		cmd.Dir = "jmap"
		b, err := cmd.Output()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok && strings.Contains(string(ee.Stderr), "Cannot read properties of undefined") {
				return false // the inbox is still empty
			}
			t.Fatalf("node session.mjs: %v\n%s", err, b)
		}
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("output of session.mjs: %v\n%s", err, b)
		}
		return true
	})
	if out.AccountID == "" || !slices.Contains(out.Mailboxes, "INBOX") || out.InboxTotal != 1 {
		t.Errorf("session and mailboxes: %+v", out)
	}
	if out.Subject != "test jam1" || out.From != "bob@remote.test" || out.Body != "Hello from SMTP." {
		t.Errorf("email: subject %q from %q body %q", out.Subject, out.From, out.Body)
	}
	if !slices.Equal(out.Keywords, []string{"$flagged", "$seen"}) || !out.InArchive {
		t.Errorf("after set: keywords %v in archive %v", out.Keywords, out.InArchive)
	}
	if !out.Pushed {
		t.Error("no StateChange was pushed")
	}
	if out.DraftSubject != "draft from jam" || !out.Download || !strings.HasPrefix(out.DownloadDisposition, "attachment") {
		t.Errorf("upload, import and download: %+v", out)
	}
	if !out.Submitted || !out.Arrived || out.InSent != 1 {
		t.Errorf("send through EmailSubmission: submitted %v, arrived %v, %d in Sent", out.Submitted, out.Arrived, out.InSent)
	}
	if out.DeliveryStatus != "yes; 250 2.0.0 Delivered; unknown" {
		t.Errorf("deliveryStatus of the message sent to the account itself: %q", out.DeliveryStatus)
	}
	if !slices.Equal(out.HeldStatus, []string{"pending", "pending"}) || !out.Canceled {
		t.Errorf("held submissions: status %v, canceled %v", out.HeldStatus, out.Canceled)
	}
	if out.KeptArrived != 1 || out.CanceledArrived != 0 {
		t.Errorf("after the hold: the kept message arrived %d times (want 1), the undone one %d times (want 0)", out.KeptArrived, out.CanceledArrived)
	}
	if !slices.Equal(out.AfterStatus, []string{"final", "canceled"}) || !out.CanceledQuery || out.LateCancel != "cannotUnsend" {
		t.Errorf("after the hold: status %v, query of canceled %v, cancel after sending %q", out.AfterStatus, out.CanceledQuery, out.LateCancel)
	}
	if out.ChangesError != "cannotCalculateChanges" {
		t.Errorf("error for a bad state: %q", out.ChangesError)
	}
}

// eventSource opens the account's JMAP event source for types, closed
// after the first state event; the caller closes the body.
func eventSource(ctx context.Context, t *testing.T, s *server, user, pass, types string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.addr("http")+"/jmap/eventsource?types="+types+"&closeafter=state&ping=0", nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		t.Fatalf("eventsource: %s", resp.Status)
	}
	return resp
}

// TestJMAPPushOnDelivery follows EventSource on the real binary while a
// message arrives over SMTP: the delivery loop's store change is pushed.
// The delay is logged, not asserted.
func TestJMAPPushOnDelivery(t *testing.T) {
	data, config := newData(t, "")
	s := startServer(t, data, config)
	const user, pass = "alice@example.test", "alice-password-1"
	setupAccount(t, s, user, pass)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp := eventSource(ctx, t, s, user, pass, "Email")
	defer resp.Body.Close()
	sent := time.Now()
	msg := testMessage("push1", "bob@remote.test", user, "Pushed.")
	smtplibSend(t, pyJob{Port: s.port("smtp"), Messages: []pyMessage{{From: "bob@remote.test", To: []string{user}, Data: b64(msg)}}})
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	if !strings.Contains(string(body), `"@type":"StateChange"`) {
		t.Fatalf("no StateChange before the stream closed: %q", body)
	}
	t.Logf("SMTP send to JMAP push: %v", time.Since(sent))
}
