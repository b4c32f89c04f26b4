package e2e

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestWebmailReading drives the reading features of issue 22 in chromium
// against the real binary: remote images load only once allowed, for one
// message or, kept in the account (RemoteImages), for every message of a
// sender and on another device too, never for other senders; "download
// all" zips the attachments in the page, byte for byte; conversations
// (collapseThreads, Thread/get) group a question and its two replies and
// show them together; a hidden page notifies of new mail where the user
// allowed notifications, and only there, and a click on the notification
// opens the message.
func TestWebmailReading(t *testing.T) {
	const user, pass = "alice@example.test", "alice-password-1"
	s := webmailServer(t, user, pass)
	tracker := newTracker(t)

	now := time.Now().UTC()
	date := func(i int) string { return now.Add(time.Duration(i) * time.Second).Format(time.RFC1123Z) }
	htmlMail := func(from, subject, img string, i int) []byte {
		return fmt.Appendf(nil, "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <img%d@e2e.test>\r\nDate: %s\r\nMIME-Version: 1.0\r\n"+
			"Content-Type: text/html; charset=utf-8\r\n\r\n<p>%s</p><img src=\"%s/%s\" alt=\"pixel\">\r\n", from, user, subject, i, date(i), subject, tracker.URL, img)
	}
	files := map[string][]byte{
		"notes.txt":  []byte("first file\r\n"),
		"data.bin":   {0, 1, 2, 3, 250, 251, 252, 253, 254, 255},
		"notes.txt2": []byte("a second file called notes.txt\r\n"),
	}
	var parts strings.Builder
	for _, name := range []string{"notes.txt", "data.bin", "notes.txt2"} {
		fmt.Fprintf(&parts, "--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=%s\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n",
			strings.TrimSuffix(name, "2"), b64(files[name]))
	}
	threeFiles := fmt.Appendf(nil, "From: <files@remote.test>\r\nTo: <%s>\r\nSubject: three files\r\nMessage-ID: <files@e2e.test>\r\nDate: %s\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThree files.\r\n%s--b--\r\n", user, date(4), parts.String())
	thread := func(from, subject, id, refs string, i int) []byte {
		h := ""
		if refs != "" {
			h = "In-Reply-To: " + refs[strings.LastIndex(refs, "<"):] + "\r\nReferences: " + refs + "\r\n"
		}
		return fmt.Appendf(nil, "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: %s\r\n%sDate: %s\r\n\r\n%s says hello\r\n", from, user, subject, id, h, date(i), from)
	}
	base := seed(t, s, user, pass,
		htmlMail("news@remote.test", "img one", "one.png", 1),
		htmlMail("news@remote.test", "img two", "two.png", 2),
		htmlMail("other@remote.test", "img other", "other.png", 3),
		threeFiles,
		thread("bob@remote.test", "question", "<q@e2e.test>", "", 5),
		thread("carol@remote.test", "Re: question", "<r1@e2e.test>", "<q@e2e.test>", 6),
		thread("dave@remote.test", "Re: question", "<r2@e2e.test>", "<q@e2e.test> <r1@e2e.test>", 7),
	)

	zipFile := filepath.Join(t.TempDir(), "all.zip")
	type hitCount map[string]int
	var out struct {
		AfterOpen          hitCount        `json:"afterOpen"`
		BlockedNote        string          `json:"blockedNote"`
		AfterShow          hitCount        `json:"afterShow"`
		TwoBeforeAlways    hitCount        `json:"twoBeforeAlways"`
		TwoAfterAlways     hitCount        `json:"twoAfterAlways"`
		ShownNote          string          `json:"shownNote"`
		AllowedOnServer    map[string]bool `json:"allowedOnServer"`
		OtherDevice        hitCount        `json:"otherDevice"`
		AttachmentButtons  int             `json:"attachmentButtons"`
		ZipName            string          `json:"zipName"`
		RowsMessages       int             `json:"rowsMessages"`
		RowsThreads        int             `json:"rowsThreads"`
		ThreadRow          string          `json:"threadRow"`
		ThreadCount        string          `json:"threadCount"`
		Conversation       []string        `json:"conversation"`
		ConversationPushed []string        `json:"conversationPushed"`
		ConversationTitle  string          `json:"conversationTitle"`
		ConvUnread         bool            `json:"conversationUnread"`
		ConvReadAfter      bool            `json:"conversationReadAfter"`
		ArchivedConv       int             `json:"archivedConversation"`
		ArchivedAfterUndo  int             `json:"archivedAfterUndo"`
		ThreadsAfterReload bool            `json:"threadsAfterReload"`
		RowsBack           int             `json:"rowsBack"`
		Notes              map[string]any  `json:"notes"`
	}
	webmailScript(t, &out, "reading.mjs", base, s.port("smtp"), user, pass, tracker.URL, zipFile)
	t.Logf("browser: %+v", out)

	// Remote images.
	if len(out.AfterOpen) != 0 || !strings.Contains(out.BlockedNote, "blocked") {
		t.Errorf("opening img one: the tracker saw %v, the note says %q", out.AfterOpen, out.BlockedNote)
	}
	if !maps.Equal(out.AfterShow, hitCount{"/one.png": 1}) {
		t.Errorf("after show images: %v, want /one.png once", out.AfterShow)
	}
	if !maps.Equal(out.TwoBeforeAlways, hitCount{"/one.png": 1}) || out.TwoAfterAlways["/two.png"] != 1 {
		t.Errorf("img two: %v before allowing the sender, %v after", out.TwoBeforeAlways, out.TwoAfterAlways)
	}
	if !strings.Contains(out.ShownNote, "are shown") || !strings.Contains(out.ShownNote, "Stop showing images from news@remote.test") {
		t.Errorf("after allowing the sender the note says %q", out.ShownNote)
	}
	if len(out.AllowedOnServer) != 1 || !out.AllowedOnServer["news@remote.test"] {
		t.Errorf("RemoteImages on the server: %v", out.AllowedOnServer)
	}
	if out.OtherDevice["/one.png"] != 2 || out.OtherDevice["/other.png"] != 0 {
		t.Errorf("another device: the tracker saw %v; want /one.png again (a trusted sender) and never /other.png", out.OtherDevice)
	}

	// The zip: the three attachments, byte for byte, the second
	// notes.txt renamed.
	if out.AttachmentButtons != 3 || out.ZipName != "three files.zip" {
		t.Errorf("%d attachment buttons, zip named %q", out.AttachmentButtons, out.ZipName)
	}
	zr, err := zip.OpenReader(zipFile)
	if err != nil {
		t.Fatalf("the downloaded zip: %v", err)
	}
	defer zr.Close()
	want := map[string][]byte{"notes.txt": files["notes.txt"], "data.bin": files["data.bin"], "notes (2).txt": files["notes.txt2"]}
	got := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		got[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	if len(got) != len(want) {
		t.Errorf("the zip holds %d files, want %d", len(got), len(want))
	}
	for name, b := range want {
		if !bytes.Equal(got[name], b) {
			t.Errorf("%s in the zip: %q, want %q", name, got[name], b)
		}
	}

	// Conversations.
	if out.RowsMessages != 7 || out.RowsThreads != 5 || out.ThreadRow != "Re: question" || strings.TrimSpace(out.ThreadCount) != "(3)" {
		t.Errorf("rows %d by message, %d by conversation; the thread's row %q %q", out.RowsMessages, out.RowsThreads, out.ThreadRow, out.ThreadCount)
	}
	if len(out.Conversation) != 3 || !strings.Contains(out.Conversation[0], "bob@") || !strings.Contains(out.Conversation[2], "dave@") ||
		!strings.Contains(out.ConversationTitle, "3 messages") {
		t.Errorf("the conversation: %q, %q", out.Conversation, out.ConversationTitle)
	}
	if len(out.ConversationPushed) != 4 || !strings.Contains(out.ConversationPushed[3], "erin@") {
		t.Errorf("a reply pushed while the conversation was open: it shows %q", out.ConversationPushed)
	}
	if !out.ConvUnread || !out.ConvReadAfter {
		t.Errorf("with its newest message read, the conversation shows unread %v; read once opened %v", out.ConvUnread, out.ConvReadAfter)
	}
	if out.ArchivedConv != 4 || out.ArchivedAfterUndo != 0 {
		t.Errorf("archiving the conversation archived %d messages; after undo %d are left in Archive", out.ArchivedConv, out.ArchivedAfterUndo)
	}
	if !out.ThreadsAfterReload || out.RowsBack != 8 {
		t.Errorf("after a reload by conversation %v; back to messages %d rows", out.ThreadsAfterReload, out.RowsBack)
	}

	// Notifications.
	allowed, _ := out.Notes["true"].([]any)
	denied, _ := out.Notes["false"].([]any)
	if out.Notes["permission-true"] != "granted" || len(allowed) != 1 || len(denied) != 0 {
		t.Fatalf("notifications: %v", out.Notes)
	}
	if n, _ := allowed[0].(map[string]any); n["title"] != "New mail" || !strings.Contains(fmt.Sprint(n["body"]), "ping true") {
		t.Errorf("the notification: %v", n)
	}
	if box, _ := out.Notes["clickOpened"].(string); !strings.HasPrefix(box, "INBOX") {
		t.Errorf("clicking the notification opened the message in %q, want the inbox", box)
	}
}

// TestWebmailAccount drives Settings' password and app passwords, which
// speak Casella's JMAP account extension: a token made in the page logs
// in as a bearer token until it is revoked there; the password changes
// only with the current one, the old one stops working and the page goes
// on with the new one; the wrong current passwords typed count as failed
// logins, as at sign-in.
func TestWebmailAccount(t *testing.T) {
	const user, pass, next = "alice@example.test", "alice-password-1", "a new password for alice"
	s := webmailServer(t, user, pass)
	base := "http://" + s.addr("http")
	var out struct {
		WrongForToken    string          `json:"wrongForToken"`
		SecretShape      bool            `json:"secretShape"`
		Listed           []string        `json:"listed"`
		TokenLogin       int             `json:"tokenLogin"`
		TokenAsPassword  int             `json:"tokenAsPassword"`
		SecretAgain      int             `json:"secretAgain"`
		RevokedLogin     int             `json:"revokedLogin"`
		WrongForPassword string          `json:"wrongForPassword"`
		Differ           string          `json:"differ"`
		Changed          string          `json:"changed"`
		OldLogin         int             `json:"oldLogin"`
		NewLogin         int             `json:"newLogin"`
		ErrorShown       int             `json:"errorShown"`
		Italian          []string        `json:"italian"`
		Trusted          []string        `json:"trusted"`
		TrustedOnServer  map[string]bool `json:"trustedOnServer"`
		SignedInAgain    bool            `json:"signedInAgain"`
	}
	webmailScript(t, &out, "account.mjs", base, user, pass, next)
	t.Logf("browser: %+v", out)
	if out.WrongForToken != "The current password is wrong." || out.WrongForPassword != "The current password is wrong." {
		t.Errorf("wrong current password: %q, %q", out.WrongForToken, out.WrongForPassword)
	}
	if !out.SecretShape || len(out.Listed) != 1 || !strings.Contains(out.Listed[0], "phone") || !strings.Contains(out.Listed[0], "expires") {
		t.Errorf("the token: shaped right %v, listed %q", out.SecretShape, out.Listed)
	}
	if out.TokenLogin != 200 || out.TokenAsPassword != 200 || out.RevokedLogin != 401 || out.SecretAgain != 0 {
		t.Errorf("the token logs in %d (as a password %d), after revoking %d; secret shown again %d times",
			out.TokenLogin, out.TokenAsPassword, out.RevokedLogin, out.SecretAgain)
	}
	if out.Differ != "The two new passwords differ." || out.Changed != "Password changed." {
		t.Errorf("changing the password: %q, %q", out.Differ, out.Changed)
	}
	if out.OldLogin != 401 || out.NewLogin != 200 || out.ErrorShown != 0 || !out.SignedInAgain {
		t.Errorf("after the change: old password %d, new %d, errors in the page %d, signed in again %v", out.OldLogin, out.NewLogin, out.ErrorShown, out.SignedInAgain)
	}
	if len(out.Trusted) != 1 || !strings.HasPrefix(out.Trusted[0], "news@remote.test") || len(out.TrustedOnServer) != 0 {
		t.Errorf("trusted senders listed %q, after removing one the server has %v", out.Trusted, out.TrustedOnServer)
	}
	if !slices.Equal(out.Italian, []string{"Risposta automatica", "Cambia la password", "Password per le app", "Mittenti di cui mostrare le immagini"}) {
		t.Errorf("in Italian: %q", out.Italian)
	}
	// Two wrong current passwords, the old password and the revoked
	// token: failed logins, counted where sign-in failures are.
	if m := metricsText(t, s); !strings.Contains(m, `casella_refusals_total{protocol="jmap",reason="auth_failed"} 4`) {
		t.Errorf("failed jmap logins in /metrics:\n%s", grepLines(m, "casella_refusals_total"))
	}
}

func grepLines(text, prefix string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
