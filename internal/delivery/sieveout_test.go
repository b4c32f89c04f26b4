package delivery

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"casella/internal/arc"
	"casella/internal/directory/sqlitedir"
	"casella/internal/dkim"
	"casella/internal/limit"
	"casella/internal/resolver"
	"casella/internal/resolver/dnstest"
	"casella/internal/sieve"
	"casella/internal/spool"
	"casella/internal/srs"
	"casella/internal/store"
)

// outEnv is a delivery env whose scripts can send: a real directory with
// accounts u1 and u2 in example.com, DKIM keys for example.com published
// in a real DNS server, and an outbound queue that is only looked at.
type outEnv struct {
	*env
	acct   map[string]store.Account
	out    *spool.Spool
	lookup arc.LookupTXT
}

func outSetup(t *testing.T, scripts map[string]string) *outEnv {
	t.Helper()
	ctx := context.Background()
	e := setup(t, spool.Options{})
	tmp := t.TempDir()
	dir, err := sqlitedir.Open(filepath.Join(tmp, "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	if _, err := dir.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	o := &outEnv{env: e, acct: map[string]store.Account{}}
	for _, name := range []string{"u1", "u2"} {
		a, err := dir.AddAccount(ctx, name+"@example.com", name+"-password", 0, "")
		if err != nil {
			t.Fatal(err)
		}
		o.acct[name] = a.ID
		if err := e.store.EnsureAccount(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if src, ok := scripts[name]; ok {
			if err := dir.PutSieveScript(ctx, a.ID, "main", src); err != nil {
				t.Fatal(err)
			}
			if err := dir.SetActiveSieveScript(ctx, a.ID, "main"); err != nil {
				t.Fatal(err)
			}
		}
	}
	keys := dkim.Open(filepath.Join(tmp, "dkim"))
	generated, err := keys.Generate("example.com", "s1")
	if err != nil {
		t.Fatal(err)
	}
	dns := dnstest.Start(t)
	for _, k := range generated {
		dns.Add(t, k.ZoneLine())
	}
	res := &resolver.Resolver{Servers: []string{dns.Addr}}
	o.lookup = func(name string) ([]string, error) {
		r, err := res.TXT(ctx, name)
		return r.Records, err
	}
	if o.out, err = spool.Open(filepath.Join(tmp, "queue"), spool.Options{Logger: quiet()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.out.Close() })
	e.d.Filters = &Filters{Scripts: dir, Logger: quiet()}
	e.d.Sender = &Sender{
		Directory: dir,
		Intake:    e.spool,
		Outbound:  dkim.SigningQueue{Next: o.out, Keys: keys, Log: quiet()},
		Forwarder: &Forwarder{SRS: &srs.Rewriter{Secrets: [][]byte{[]byte("test secret")}}, Keys: keys, Resolver: res,
			Hostname: "mx.example.com", Logger: quiet()},
		Hostname: "mx.example.com",
	}
	return o
}

// queued returns the outbound queue's entries with their messages.
func (o *outEnv) queued(t *testing.T) ([]spool.Entry, [][]byte) {
	t.Helper()
	ctx := context.Background()
	list, err := o.out.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var data [][]byte
	for _, e := range list {
		_, d, err := o.out.Get(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, d)
	}
	return list, data
}

const arrived = "Authentication-Results: mx.example.com; spf=pass smtp.mailfrom=example.org\r\n" +
	"Received: from mail.example.org by mx.example.com; Wed, 02 Dec 2026 13:00:00 +0000\r\n" +
	"From: Alice <alice@example.org>\r\nTo: u1@example.com\r\nSubject: travel plans\r\n" +
	"Message-ID: <1@example.org>\r\n\r\nSee you.\r\n"

// A script that redirects to another local account and to another
// domain: the local copy is delivered, the remote one is queued once,
// SRS-rewritten, DKIM-signed and ARC-sealed by example.com, and a script
// redirecting back is caught as a loop, keeping the message.
func TestSieveRedirect(t *testing.T) {
	o := outSetup(t, map[string]string{
		"u1": `redirect "u2@example.com"; redirect "friend@example.net";`,
		"u2": `require "copy"; redirect :copy "u1@example.com";`,
	})
	o.enqueue(t, "alice@example.org", []spool.Recipient{{Address: "u1@example.com", Account: int64(o.acct["u1"])}}, arrived)
	o.run(t)
	o.drain(t)

	// u1 -> u2 (kept there by :copy) -> u1, where redirecting again
	// would loop: kept in u1's INBOX.
	if got := o.filed(t, o.acct["u2"], "INBOX"); len(got) != 1 || got[0].subject != "travel plans" {
		t.Errorf("u2's INBOX: %v", got)
	}
	u1 := o.mailbox(t, int64(o.acct["u1"]), "INBOX")
	if len(u1) != 1 || !bytes.Contains(u1[0].raw, []byte("Delivered-To: u2@example.com\r\n")) {
		t.Fatalf("u1's INBOX: %d messages, want the one back from u2", len(u1))
	}

	msg := o.forwarded(t, "friend@example.net", "u1@example.com")
	if !bytes.Contains(msg, []byte("ARC-Authentication-Results: i=1; mx.example.com; spf=pass smtp.mailfrom=example.org")) {
		t.Errorf("the seal does not carry our Authentication-Results:\n%s", msg)
	}
}

// TestSieveRedirectEdited sends the message as the script edited it
// before the redirect (RFC 5293 section 7), to another domain and to a
// local account: the edits made before apply, those after do not, and
// the copy still verifies (DKIM, ARC) as forwarded.
func TestSieveRedirectEdited(t *testing.T) {
	o := outSetup(t, map[string]string{
		"u1": `require ["editheader", "copy"];
deleteheader "Subject";
addheader "Subject" "[fwd] travel plans";
addheader :last "X-Sieve-Filtered" "<u1@example.com>";
redirect :copy "friend@example.net";
redirect "u2@example.com";
addheader "X-After" "too late";
keep;`,
	})
	o.enqueue(t, "alice@example.org", []spool.Recipient{{Address: "u1@example.com", Account: int64(o.acct["u1"])}}, arrived)
	o.run(t)
	o.drain(t)

	msg := o.forwarded(t, "friend@example.net", "u1@example.com")
	for _, want := range []string{"\r\nSubject: [fwd] travel plans\r\n", "\r\nX-Sieve-Filtered: <u1@example.com>\r\n"} {
		if !bytes.Contains(msg, []byte(want)) {
			t.Errorf("the remote copy lacks %q:\n%s", want, msg)
		}
	}
	if bytes.Contains(msg, []byte("Subject: travel plans")) || bytes.Contains(msg, []byte("X-After")) {
		t.Errorf("the remote copy has the old subject or a later edit:\n%s", msg)
	}
	u2 := o.mailbox(t, int64(o.acct["u2"]), "INBOX")
	if len(u2) != 1 || !bytes.Contains(u2[0].raw, []byte("X-Sieve-Filtered: <u1@example.com>\r\n")) ||
		bytes.Contains(u2[0].raw, []byte("X-After")) || !bytes.Contains(u2[0].raw, []byte("Delivered-To: u1@example.com\r\n")) {
		t.Fatalf("u2's INBOX: %d messages, want 1 with the edits made before the redirect", len(u2))
	}
	// The copy u1 keeps has every edit, the later one too.
	u1 := o.mailbox(t, int64(o.acct["u1"]), "INBOX")
	if len(u1) != 1 || !bytes.Contains(u1[0].raw, []byte("X-After: too late\r\n")) {
		t.Errorf("u1's INBOX: %d messages, want 1 with every edit", len(u1))
	}
}

// forwarded checks that the outbound queue holds one message, to rcpt,
// forwarded by example.com for the recipient from: from alice@example.org,
// SRS-rewritten, DKIM-signed and ARC-sealed by example.com. It returns
// the message.
func (o *outEnv) forwarded(t *testing.T, rcpt, from string) []byte {
	t.Helper()
	list, data := o.queued(t)
	if len(list) != 1 {
		t.Fatalf("outbound queue holds %d entries, want 1", len(list))
	}
	env := list[0].Envelope
	if len(env.Recipients) != 1 || env.Recipients[0].Address != rcpt {
		t.Fatalf("remote copy to %+v", env.Recipients)
	}
	if !strings.HasPrefix(env.From, "SRS0=") || !strings.HasSuffix(env.From, "=example.org=alice@example.com") {
		t.Errorf("remote copy's envelope sender %q is not SRS-rewritten into example.com", env.From)
	}
	msg := data[0]
	if !bytes.Contains(msg, []byte("Delivered-To: "+from+"\r\n")) || !bytes.Contains(msg, []byte("d=example.com")) {
		t.Errorf("remote copy lacks Delivered-To or a signature by example.com:\n%s", msg)
	}
	if v := arc.Verify(msg, o.lookup); v.Result != arc.Pass || v.Instances != 1 || v.Sealer != "example.com" {
		t.Errorf("ARC chain of the remote copy: %+v", v)
	}
	return msg
}

// A delivery replayed after a crash sends nothing twice: the redirect,
// the rejection notice and the notification each are queued once.
func TestSieveSendReplay(t *testing.T) {
	o := outSetup(t, map[string]string{
		"u1": `require ["enotify"];
notify :message "mail from alice" "mailto:pager@example.net";
redirect "friend@example.net";`,
		"u2": `require "reject"; reject "not here";`,
	})
	// One message to both: the same entry, two recipients, sent with
	// REQUIRETLS, which the redirected copy and the rejection's DSN keep
	// and the notification, a new message, does not (RFC 8689 sections
	// 4.2.1, 5).
	entry := &spool.Entry{ID: "00000001700000000000-0123456789ab", Envelope: spool.Envelope{From: "alice@example.org", Received: time.Now(),
		Recipients: []spool.Recipient{{Address: "u1@example.com", Account: int64(o.acct["u1"])}, {Address: "u2@example.com", Account: int64(o.acct["u2"])}},
		RequireTLS: true}}
	tasks := []spool.Task{{Entry: entry, Data: []byte(arrived), Rcpt: 0}, {Entry: entry, Data: []byte(arrived), Rcpt: 1}}
	for range 3 {
		if err := o.d.HandleBatch(context.Background(), tasks); err != nil {
			t.Fatal(err)
		}
	}
	list, data := o.queued(t)
	got := map[string]int{}
	for i, e := range list {
		if e.Envelope.RequireTLS != (e.Envelope.Recipients[0].Address != "pager@example.net") {
			t.Errorf("entry to %s: REQUIRETLS %v", e.Envelope.Recipients[0].Address, e.Envelope.RequireTLS)
		}
		switch {
		case e.Envelope.Recipients[0].Address == "friend@example.net":
			got["redirect"]++
		case e.Envelope.Recipients[0].Address == "pager@example.net" && bytes.Contains(data[i], []byte("Auto-Submitted: auto-notified")):
			got["notify"]++
		case e.Envelope.Recipients[0].Address == "alice@example.org" && e.Envelope.From == "" &&
			bytes.Contains(data[i], []byte("report-type=delivery-status")) && bytes.Contains(data[i], []byte("not here")):
			got["reject"]++
		default:
			t.Errorf("unexpected entry %+v", e.Envelope)
		}
	}
	if got["redirect"] != 1 || got["notify"] != 1 || got["reject"] != 1 {
		t.Fatalf("queued after three deliveries: %v, want one of each", got)
	}
	for _, name := range []string{"u1", "u2"} {
		if inbox := o.filed(t, o.acct[name], "INBOX"); len(inbox) != 0 {
			t.Errorf("%s: a rejected or redirected message was kept: %v", name, inbox)
		}
	}
}

// Nothing goes to a null sender, nor a notification about an automatic
// message; a redirect over the sending limit is not performed and the
// message is kept.
func TestSieveSendRefusals(t *testing.T) {
	o := outSetup(t, map[string]string{
		"u1": `require ["enotify", "reject"];
if header :is "subject" "reject" { reject "no"; stop; }
if header :is "subject" "notify" { notify "mailto:pager@example.net"; stop; }
redirect "friend@example.net";`,
	})
	o.d.Sender.SendRate = limit.NewRate(1, time.Hour)
	var mu sync.Mutex
	refused := map[string]int{}
	o.d.Sender.Refused = func(reason string) {
		mu.Lock()
		defer mu.Unlock()
		refused[reason]++
	}
	rcpt := []spool.Recipient{{Address: "u1@example.com", Account: int64(o.acct["u1"])}}
	o.enqueue(t, "", rcpt, "Subject: reject\r\n\r\nx\r\n")
	o.enqueue(t, "alice@example.org", rcpt, "Auto-Submitted: auto-replied\r\nSubject: notify\r\n\r\nx\r\n")
	o.enqueue(t, "alice@example.org", rcpt, "Subject: first\r\n\r\nx\r\n")
	o.enqueue(t, "alice@example.org", rcpt, "Subject: second\r\n\r\nx\r\n")
	o.run(t)
	o.drain(t)
	list, _ := o.queued(t)
	if len(list) != 1 || list[0].Envelope.Recipients[0].Address != "friend@example.net" {
		t.Fatalf("queued %+v, want only the first redirect", list)
	}
	inbox := o.filed(t, o.acct["u1"], "INBOX")
	var subjects []string
	for _, f := range inbox {
		subjects = append(subjects, f.subject)
	}
	mu.Lock()
	if refused["null_sender"] != 1 || refused["automatic"] != 1 || refused["send_limit"] != 1 || len(refused) != 3 {
		t.Errorf("refusals counted %v, want one each of null_sender, automatic and send_limit", refused)
	}
	mu.Unlock()
	// notify keeps (implicit keep); of the two redirects, delivered
	// concurrently, the one over the limit is kept.
	if got := strings.Join(subjects, ","); got != "notify,first" && got != "notify,second" {
		t.Errorf("INBOX holds %v, want notify and one of first and second", subjects)
	}
}

func TestLooping(t *testing.T) {
	many := strings.Repeat("Received: from a by b; Wed, 02 Dec 2026 13:00:00 +0000\r\n", maxHops)
	for _, c := range []struct {
		msg  string
		loop bool
	}{
		{"Subject: x\r\n\r\nDelivered-To: u1@example.com\r\n", false}, // in the body
		{"Delivered-To: u2@example.com\r\nSubject: x\r\n\r\n", false},
		{"Delivered-To: U1@Example.COM\r\nSubject: x\r\n\r\n", true},
		{"Subject: x\r\nDelivered-To:\r\n u1@example.com\r\n\r\n", true},
		{many[len("Received: from a by b; Wed, 02 Dec 2026 13:00:00 +0000\r\n"):] + "Subject: x\r\n\r\n", false},
		{many + "Subject: x\r\n\r\n", true},
	} {
		if got := looping([]byte(c.msg), "u1@example.com"); (got != "") != c.loop {
			t.Errorf("looping(%.60q) = %q, want loop %v", c.msg, got, c.loop)
		}
	}
}

func TestMailtoNotice(t *testing.T) {
	now := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	n, err := mailtoNotice(sieve.Notify{Method: "mailto:a@example.net,b@example.net?subject=Hi%20there&body=Look&to=c@example.net", Importance: "1"},
		"u1@example.com", "orig", "mx.example.com", now)
	if err != nil {
		t.Fatal(err)
	}
	msg := string(n.data)
	if strings.Join(n.to, " ") != "a@example.net b@example.net c@example.net" {
		t.Errorf("to %v", n.to)
	}
	for _, want := range []string{"From: <u1@example.com>\r\n", "Subject: Hi there\r\n", "Auto-Submitted: auto-notified\r\n", "Importance: high\r\n", "\r\n\r\nLook\r\n"} {
		if !strings.Contains(msg, want) {
			t.Errorf("notice lacks %q:\n%s", want, msg)
		}
	}
	n, err = mailtoNotice(sieve.Notify{Method: "mailto:a@example.net", From: "me@example.com"}, "u1@example.com", "Lunch?", "mx.example.com", now)
	if err != nil || !strings.Contains(string(n.data), "Subject: New mail: Lunch?\r\n") || !strings.Contains(string(n.data), "From: <me@example.com>") {
		t.Errorf("defaults: %v\n%s", err, n.data)
	}
	for _, bad := range []string{"xmpp:a@example.net", "mailto:", "mailto:not-an-address", "mailto:a@b,c@d,e@f,g@h,i@j,k@l",
		"mailto:a@example.net%0D%0ABcc:%20x@y", "mailto:%zz"} {
		if _, err := mailtoNotice(sieve.Notify{Method: bad}, "u1@example.com", "s", "mx.example.com", now); err == nil {
			t.Errorf("mailtoNotice(%q) took it", bad)
		}
	}
}

// A script's notify URI comes over ManageSieve: no URI breaks out of the
// notice's header.
func FuzzMailtoNotice(f *testing.F) {
	for _, s := range []string{"mailto:a@example.net?subject=x&body=y", "mailto:a@b%0d%0aBcc:c@d", "mailto:a@b?subject=%0d%0aBcc:%20c@d"} {
		f.Add(s, "message")
	}
	f.Fuzz(func(t *testing.T, uri, message string) {
		n, err := mailtoNotice(sieve.Notify{Method: uri, Message: message}, "u1@example.com", "s", "mx.example.com", time.Unix(0, 0))
		if err != nil {
			return
		}
		head, _, ok := strings.Cut(string(n.data), "\r\n\r\n")
		if !ok {
			t.Fatalf("notice without a header end:\n%q", n.data)
		}
		for _, line := range strings.Split(head, "\r\n") {
			name, _, ok := strings.Cut(line, ":")
			if !ok || strings.ContainsAny(name, " \t\r\n") {
				t.Fatalf("notice header line %q from %q", line, uri)
			}
			if strings.EqualFold(name, "Bcc") || strings.EqualFold(name, "Cc") {
				t.Fatalf("URI %q injected %q", uri, line)
			}
		}
	})
}
