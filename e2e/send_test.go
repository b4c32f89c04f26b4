package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sendScript sends messages given as JSON on argv with smtplib and prints
// the final reply of each. Messages are sent as bytes so that what was sent
// is known exactly.
const sendScript = `
import json, smtplib, ssl, sys, base64
job = json.loads(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if job.get("implicit_tls"):
    s = smtplib.SMTP_SSL("127.0.0.1", job["port"], context=ctx, timeout=30)
else:
    s = smtplib.SMTP("127.0.0.1", job["port"], timeout=30)
s.ehlo("client.e2e.test")
if job.get("starttls"):
    s.starttls(context=ctx)
    s.ehlo("client.e2e.test")
if job.get("user"):
    s.login(job["user"], job["password"])
for m in job["messages"]:
    data = base64.b64decode(m["data"])
    refused = s.sendmail(m["from"], m["to"], data, mail_options=m.get("mail_options", []))
    print("sent", json.dumps(refused))
s.quit()
`

type pyMessage struct {
	From        string   `json:"from"`
	To          []string `json:"to"`
	Data        string   `json:"data"`
	MailOptions []string `json:"mail_options,omitempty"`
}

type pyJob struct {
	Port        string      `json:"port"`
	StartTLS    bool        `json:"starttls,omitempty"`
	ImplicitTLS bool        `json:"implicit_tls,omitempty"`
	User        string      `json:"user,omitempty"`
	Password    string      `json:"password,omitempty"`
	Messages    []pyMessage `json:"messages"`
}

func smtplibSend(t *testing.T, job pyJob) {
	t.Helper()
	b, _ := json.Marshal(job)
	python(t, sendScript, string(b))
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// multipartScript prints a multipart message with an attachment, built by
// Python's email package, so its bytes come from an independent MIME writer.
const multipartScript = `
import sys
from email.message import EmailMessage
from email import policy
m = EmailMessage(policy=policy.SMTP)
m["From"] = "Bob <bob@remote.test>"
m["To"] = "alice@example.test"
m["Subject"] = "Quarterly report, with attachment"
m["Message-ID"] = "<multipart@e2e.test>"
m.set_content("Hello Alice,\nthe report is attached.\n")
m.add_alternative("<p>Hello Alice,<br>the report is attached.</p>", subtype="html")
m.add_attachment(bytes(range(256)) * 40, maintype="application", subtype="octet-stream", filename="report.bin")
sys.stdout.buffer.write(m.as_bytes())
`

func TestDeliveryWithRealClients(t *testing.T) {
	need(t, "swaks")
	data, config := newData(t, "")
	s := startServer(t, data, config)
	setupAccount(t, s, "alice@example.test", "alice-secret-1")
	setupAccount(t, s, "jörg@example.test", "jorg-secret-1")

	var sent [][]byte
	plain := testMessage("plain", "bob@remote.test", "alice@example.test", "Plain SMTP from smtplib.")
	tlsMsg := testMessage("starttls", "bob@remote.test", "alice@example.test", "Over STARTTLS.")
	utf8Msg := []byte("From: <bjørn@remote.test>\r\nTo: <jörg@example.test>\r\nSubject: Grüße aus Köln ✓\r\nMessage-ID: <utf8@e2e.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nDas ist 8-Bit-Text: äöü ß €.\r\n")
	multipart := []byte(python(t, multipartScript))
	if !bytes.Contains(multipart, []byte("report.bin")) {
		t.Fatalf("multipart generator produced %q", multipart)
	}

	smtplibSend(t, pyJob{Port: s.port("smtp"), Messages: []pyMessage{
		{From: "bob@remote.test", To: []string{"alice@example.test"}, Data: b64(plain)},
		{From: "bob@remote.test", To: []string{"alice@example.test"}, Data: b64(multipart)},
	}})
	sent = append(sent, plain, multipart)
	smtplibSend(t, pyJob{Port: s.port("smtp"), StartTLS: true, Messages: []pyMessage{
		{From: "bob@remote.test", To: []string{"alice@example.test"}, Data: b64(tlsMsg)},
	}})
	sent = append(sent, tlsMsg)
	smtplibSend(t, pyJob{Port: s.port("smtp"), Messages: []pyMessage{
		{From: "bjørn@remote.test", To: []string{"jörg@example.test"}, Data: b64(utf8Msg), MailOptions: []string{"SMTPUTF8", "BODY=8BITMIME"}},
	}})

	// swaks: submission with AUTH over STARTTLS, and over implicit TLS.
	swaks := func(name string, args ...string) []byte {
		t.Helper()
		msg := testMessage(name, "alice@example.test", "alice@example.test", "Sent by swaks, "+name+".")
		file := filepath.Join(t.TempDir(), "msg.eml")
		if err := os.WriteFile(file, msg, 0o644); err != nil {
			t.Fatal(err)
		}
		base := []string{"--server", "127.0.0.1", "--from", "alice@example.test", "--to", "alice@example.test",
			"--auth", "PLAIN", "--auth-user", "alice@example.test", "--auth-password", "alice-secret-1",
			"--data", "@" + file, "--helo", "client.e2e.test", "--timeout", "30"}
		out, err := exec.Command("swaks", append(base, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("swaks %s: %v\n%s", name, err, out)
		}
		// swaks ends DATA with a CRLF of its own after the file's content:
		// that is what it sends, so that is what must be stored.
		return append(msg, "\r\n"...)
	}
	sent = append(sent, swaks("submission-starttls", "--port", s.port("submission"), "--tls"))
	sent = append(sent, swaks("submissions-implicit", "--port", s.port("submissions"), "--tlsc"))

	waitFor(t, 30*time.Second, "delivery to alice", func() bool {
		return countStored(t, s, "alice@example.test", "alice-secret-1", "INBOX") == uint32(len(sent))
	})
	got := stored(t, s, "alice@example.test", "alice-secret-1", "INBOX")
	checkDelivered(t, got, sent, "alice@example.test")

	waitFor(t, 30*time.Second, "delivery to jörg", func() bool {
		return countStored(t, s, "jörg@example.test", "jorg-secret-1", "INBOX") == 1
	})
	checkDelivered(t, stored(t, s, "jörg@example.test", "jorg-secret-1", "INBOX"), [][]byte{utf8Msg}, "jörg@example.test")
}

// checkDelivered asserts that got holds exactly the sent messages, each once,
// byte for byte, behind the trace headers Casella adds.
func checkDelivered(t *testing.T, got, sent [][]byte, rcpt string) {
	t.Helper()
	want := map[string]int{}
	for _, m := range sent {
		want[sum(m)]++
	}
	for _, g := range got {
		trace, original := traceSplit(t, g)
		var names []string
		for _, h := range trace {
			names = append(names, strings.ToLower(h[:strings.IndexByte(h, ':')]))
		}
		joined := strings.Join(names, ",")
		if !strings.HasPrefix(joined, "return-path,delivered-to,received") {
			t.Errorf("trace headers = %v, want Return-Path, Delivered-To, Received first", names)
		}
		if !strings.Contains(trace[1], rcpt) {
			t.Errorf("Delivered-To = %q, want %s", trace[1], rcpt)
		}
		k := sum(original)
		if want[k] == 0 {
			t.Errorf("stored message not sent (or stored twice), original part:\n%s", original)
			continue
		}
		want[k]--
	}
	for k, n := range want {
		if n > 0 {
			t.Errorf("message %s sent but not stored", k)
		}
	}
}
