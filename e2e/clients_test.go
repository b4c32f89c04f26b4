package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// run runs a program with a deadline and returns its combined output,
// failing the test when it fails.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// maildirFiles lists the message files of a maildir folder.
func maildirFiles(t *testing.T, dir string) []string {
	t.Helper()
	var l []string
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, e := range ents {
			l = append(l, filepath.Join(sub, e.Name()))
		}
	}
	sort.Strings(l)
	return l
}

// deliverLoad sends n messages to rcpt over SMTP and waits until all are in
// the mailbox.
func deliverLoad(t *testing.T, s *server, rcpt, pass string, conns, perConn int) map[string][]byte {
	t.Helper()
	accepted, _ := load(s.addr("smtp"), "sync", rcpt, conns, perConn)
	if len(accepted) != conns*perConn {
		t.Fatalf("%d of %d messages accepted", len(accepted), conns*perConn)
	}
	waitFor(t, 120*time.Second, "delivery", func() bool { return countStored(t, s, rcpt, pass, "INBOX") == uint32(conns*perConn) })
	return accepted
}

func TestMbsyncTwoWay(t *testing.T) {
	need(t, "mbsync")
	data, config := newData(t, "")
	s := startServer(t, data, config)
	const user, pass = "alice@example.test", "alice-secret-1"
	setupAccount(t, s, user, pass)
	deliverLoad(t, s, user, pass, 10, 100)

	local := filepath.Join(t.TempDir(), "mail")
	os.MkdirAll(local, 0o700)
	rc := filepath.Join(t.TempDir(), "mbsyncrc")
	os.WriteFile(rc, fmt.Appendf(nil, `IMAPAccount casella
Host 127.0.0.1
Port %s
User %s
Pass %s
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account casella

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
`, s.port("imap"), user, pass, local, local), 0o600)

	run(t, nil, "mbsync", "-c", rc, "-a")
	inbox := filepath.Join(local, "INBOX")
	first := maildirFiles(t, inbox)
	if len(first) != 1000 {
		t.Fatalf("first sync: %d messages in the local INBOX, want 1000", len(first))
	}
	for _, box := range []string{"Sent", "Drafts", "Trash", "Junk", "Archive"} {
		if _, err := os.Stat(filepath.Join(local, box)); err != nil {
			t.Errorf("special-use mailbox %s not synced: %v", box, err)
		}
	}

	// A second sync with nothing changed transfers nothing: the local
	// files, names (which carry flags) included, stay as they are.
	run(t, nil, "mbsync", "-c", rc, "-a")
	if second := maildirFiles(t, inbox); strings.Join(second, "\n") != strings.Join(first, "\n") {
		t.Fatalf("second sync changed the local maildir: %d files before, %d after", len(first), len(second))
	}

	// The other way: a new local message, a flagged one, a deleted one.
	newMsg := testMessage("from-maildir", user, user, "Written in the local maildir.")
	os.WriteFile(filepath.Join(inbox, "new", "1700000000.local.test"), newMsg, 0o600)
	flagged := filepath.Join(inbox, first[0])
	base := flagged[:strings.LastIndex(flagged, ":2,")]
	if err := os.Rename(flagged, base+":2,FS"); err != nil {
		t.Fatal(err)
	}
	deleted, _ := os.ReadFile(filepath.Join(inbox, first[1]))
	os.Remove(filepath.Join(inbox, first[1]))
	run(t, nil, "mbsync", "-c", rc, "-a")

	c, err := imapclient.DialInsecure(s.addr("imap"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 1000 {
		t.Errorf("server INBOX has %d messages after the two-way sync, want 1000 (+1 appended, -1 deleted)", sel.NumMessages)
	}
	search := func(crit *imap.SearchCriteria) []uint32 {
		t.Helper()
		data, err := c.UIDSearch(crit, nil).Wait()
		if err != nil {
			t.Fatalf("search: %v", err)
		}
		var l []uint32
		for _, u := range data.AllUIDs() {
			l = append(l, uint32(u))
		}
		return l
	}
	if got := search(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}); len(got) != 1 {
		t.Errorf("%d flagged messages on the server, want 1", len(got))
	}
	header := func(v string) *imap.SearchCriteria {
		return &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: v}}}
	}
	if got := search(header("<from-maildir@e2e.test>")); len(got) != 1 {
		t.Errorf("the message written locally is on the server %d times, want once", len(got))
	}
	// mbsync stores local messages with LF line endings.
	id := localMessageID.FindSubmatch(deleted)
	if id == nil {
		t.Fatalf("deleted message without Message-ID: %.200s", deleted)
	}
	if got := search(header("<" + string(id[1]) + "@e2e.test>")); len(got) != 0 {
		t.Errorf("the message deleted locally is still on the server")
	}
}

var localMessageID = regexp.MustCompile(`(?m)^Message-ID: <([^@>]+)@e2e\.test>\r?$`)

func TestMuttReadsMessage(t *testing.T) {
	need(t, "mutt")
	need(t, "script")
	data, config := newData(t, "")
	s := startServer(t, data, config)
	const user, pass = "alice@example.test", "alice-secret-1"
	setupAccount(t, s, user, pass)
	msg := testMessage("for-mutt", "bob@remote.test", user, "Read me with mutt.")
	smtplibSend(t, pyJob{Port: s.port("smtp"), Messages: []pyMessage{{From: "bob@remote.test", To: []string{user}, Data: b64(msg)}}})
	waitFor(t, 30*time.Second, "delivery", func() bool { return countStored(t, s, user, pass, "INBOX") == 1 })

	dir := t.TempDir()
	rc, out := filepath.Join(dir, "muttrc"), filepath.Join(dir, "piped")
	os.WriteFile(rc, fmt.Appendf(nil, `set folder="imap://alice%%40example.test@127.0.0.1:%s/"
set imap_pass="%s"
set spoolfile="+INBOX"
set ssl_starttls=no
set ssl_force_tls=no
set wait_key=no
set quit=yes
set pipe_decode=no
set header_cache=""
set timeout=5
`, s.port("imap"), pass), 0o600)
	// mutt wants a terminal; script gives it one. The keys pipe the first
	// message to a file and quit.
	mutt := fmt.Sprintf(`mutt -n -F %s -e 'push "<pipe-message>cat > %s<enter><quit>"'`, rc, out)
	run(t, []string{"TERM=xterm"}, "script", "-qfec", mutt, "/dev/null")
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("mutt piped nothing: %v", err)
	}
	_, original := traceSplit(t, bytes.ReplaceAll(got, []byte("\n"), []byte("\r\n")))
	if !bytes.Equal(original, msg) {
		t.Fatalf("mutt read:\n%s\nwant:\n%s", got, msg)
	}
}

const poplibScript = `
import poplib, sys, json, base64
p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=30)
p.user(sys.argv[2]); p.pass_(sys.argv[3])
count, size = p.stat()
uidls = [l.split()[1].decode() for l in p.uidl()[1]]
msgs = [base64.b64encode(b"\r\n".join(p.retr(i + 1)[1]) + b"\r\n").decode() for i in range(count)]
top = b"\r\n".join(p.top(1, 0)[1]).decode()
p.dele(1)
p.quit()
print(json.dumps({"count": count, "size": size, "uidls": uidls, "msgs": msgs, "top": top}))
`

func TestPOP3Clients(t *testing.T) {
	need(t, "fetchmail")
	data, config := newData(t, "")
	s := startServer(t, data, config)
	const user, pass = "alice@example.test", "alice-secret-1"
	setupAccount(t, s, user, pass)
	var sent [][]byte
	for i := range 3 {
		m := testMessage(fmt.Sprintf("pop-%d", i), "bob@remote.test", user, fmt.Sprintf("POP3 message %d.\r\n.leading dot line\r\n", i))
		sent = append(sent, m)
	}
	var msgs []pyMessage
	for _, m := range sent {
		msgs = append(msgs, pyMessage{From: "bob@remote.test", To: []string{user}, Data: b64(m)})
	}
	smtplibSend(t, pyJob{Port: s.port("smtp"), Messages: msgs})
	waitFor(t, 30*time.Second, "delivery", func() bool { return countStored(t, s, user, pass, "INBOX") == 3 })

	// fetchmail, keeping the messages on the server.
	dir := t.TempDir()
	rc := filepath.Join(dir, "fetchmailrc")
	os.WriteFile(rc, fmt.Appendf(nil, `set no bouncemail
poll 127.0.0.1 port %s protocol POP3 auth password
  user "%s" password "%s"
  sslproto ''
  keep
  mda "/bin/sh -c 'cat > %s/msg.$$'"
`, s.port("pop3"), user, pass, dir), 0o600)
	run(t, []string{"HOME=" + dir}, "fetchmail", "-f", rc, "--nosyslog")
	fetched, _ := filepath.Glob(filepath.Join(dir, "msg.*"))
	if len(fetched) != 3 {
		t.Fatalf("fetchmail fetched %d messages, want 3", len(fetched))
	}
	for _, f := range fetched {
		b, _ := os.ReadFile(f)
		if !bytes.Contains(b, []byte("leading dot line")) || !bytes.Contains(b, []byte("Delivered-To: "+user)) {
			t.Errorf("fetchmail got %q", b)
		}
	}

	// Python's poplib: the bytes of every message, UIDL, TOP, DELE.
	out := python(t, poplibScript, s.port("pop3"), user, pass)
	var res struct {
		Count int
		UIDLs []string
		Msgs  []string
		Top   string
	}
	if err := jsonUnmarshal(out, &res); err != nil {
		t.Fatalf("poplib output %q: %v", out, err)
	}
	if res.Count != 3 || len(res.UIDLs) != 3 || res.UIDLs[0] == res.UIDLs[1] {
		t.Fatalf("poplib: count %d, uidls %v", res.Count, res.UIDLs)
	}
	var got [][]byte
	for _, m := range res.Msgs {
		got = append(got, b64decode(t, m))
	}
	checkDelivered(t, got, sent, user)
	if !strings.Contains(res.Top, "Subject: test pop-0") || strings.Contains(res.Top, "POP3 message") {
		t.Errorf("TOP 1 0 = %q, want the header only", res.Top)
	}
	if n := countStored(t, s, user, pass, "INBOX"); n != 2 {
		t.Errorf("after DELE 1 and QUIT the INBOX has %d messages, want 2", n)
	}
}
