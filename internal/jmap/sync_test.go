package jmap

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"casella/internal/imap"
	"casella/internal/store"
)

// countingConn counts the bytes that cross a connection.
type countingConn struct {
	net.Conn
	in, out *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	return n, err
}

// wire is what a sync cost: time, bytes both ways, round trips.
type wire struct {
	in, out    atomic.Int64
	roundTrips int
	start      time.Time
	took       time.Duration
}

func (w *wire) dial(network, addr string) (net.Conn, error) {
	c, err := net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	return countingConn{c, &w.in, &w.out}, nil
}

func (w *wire) String() string {
	return fmt.Sprintf("%8.0f ms %10d bytes %3d round trips", float64(w.took.Microseconds())/1000, w.in.Load()+w.out.Load(), w.roundTrips)
}

// jmapClient is a JMAP client on one kept-alive HTTP connection.
type jmapClient struct {
	t    *testing.T
	url  string
	http *http.Client
	w    *wire
}

func newJMAPClient(t *testing.T, e *testEnv) *jmapClient {
	w := &wire{start: time.Now()}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) { return w.dial(network, addr) }}
	t.Cleanup(tr.CloseIdleConnections)
	return &jmapClient{t: t, url: e.http.URL, http: &http.Client{Transport: tr}, w: w}
}

func (c *jmapClient) do(method, path string, body any) map[string]any {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, c.url+path, r)
	req.SetBasicAuth(testUser, testPass)
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	c.w.roundTrips++
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		c.t.Fatalf("%s %s: %s %v", method, path, resp.Status, err)
	}
	return out
}

// calls sends method calls and returns their responses' arguments.
func (c *jmapClient) calls(calls ...[]any) []map[string]any {
	c.t.Helper()
	r := c.do("POST", Prefix+"/api", map[string]any{"using": using, "methodCalls": calls})
	var out []map[string]any
	for _, inv := range r["methodResponses"].([]any) {
		l := inv.([]any)
		if l[0] == "error" {
			c.t.Fatalf("method error: %v", l[1])
		}
		out = append(out, l[1].(map[string]any))
	}
	return out
}

// imapConn is a bare IMAP client: it sends a command and reads up to its
// tagged response, literals included, so that every byte is counted.
type imapConn struct {
	t   *testing.T
	c   net.Conn
	r   *bufio.Reader
	w   *wire
	tag int
}

func dialIMAP(t *testing.T, addr string, w *wire) *imapConn {
	c, err := w.dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ic := &imapConn{t: t, c: c, r: bufio.NewReader(c), w: w}
	ic.readLine() // the greeting
	w.roundTrips++
	return ic
}

var literal = regexp.MustCompile(`\{(\d+)\+?\}$`)

// readLine reads a response line with its literals.
func (ic *imapConn) readLine() string {
	var b strings.Builder
	for {
		line, err := ic.r.ReadString('\n')
		if err != nil {
			ic.t.Fatalf("imap: %v", err)
		}
		b.WriteString(line)
		m := literal.FindStringSubmatch(strings.TrimRight(line, "\r\n"))
		if m == nil {
			return b.String()
		}
		n, _ := strconv.Atoi(m[1])
		if _, err := io.CopyN(&b, ic.r, int64(n)); err != nil {
			ic.t.Fatalf("imap literal: %v", err)
		}
	}
}

// cmd runs one command and returns its untagged responses.
func (ic *imapConn) cmd(command string) []string {
	ic.t.Helper()
	ic.tag++
	tag := fmt.Sprintf("t%d", ic.tag)
	if _, err := fmt.Fprintf(ic.c, "%s %s\r\n", tag, command); err != nil {
		ic.t.Fatal(err)
	}
	ic.w.roundTrips++
	var l []string
	for {
		line := ic.readLine()
		if strings.HasPrefix(line, tag+" ") {
			if !strings.HasPrefix(line, tag+" OK") {
				ic.t.Fatalf("imap %s: %s", command, line)
			}
			return l
		}
		l = append(l, line)
	}
}

func count(lines []string, substr string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// What both protocols fetch of a message for a message list: JMAP's
// properties and IMAP's FETCH items that carry the same information.
var (
	syncProps = []string{"threadId", "mailboxIds", "keywords", "size", "receivedAt", "messageId", "inReplyTo", "sender", "from", "to", "cc", "bcc", "replyTo", "subject", "sentAt", "preview"}
	syncFetch = "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE PREVIEW)"
)

// TestSyncJMAPAndIMAP syncs one mailbox over JMAP and over IMAP with
// QRESYNC from the same server: an initial sync of every message, then a
// resync after 100 changes (50 flag changes, 25 deliveries, 25
// expunges). It checks that both see the same, and logs what each cost;
// JMAP_SYNC_MESSAGES sets the mailbox's size (docs/jmap.md has the
// figures for 10,000).
func TestSyncJMAPAndIMAP(t *testing.T) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("JMAP_SYNC_MESSAGES")); err == nil && v >= 100 {
		n = v
	}
	e := newTestEnv(t)
	e.fill(t, n)
	isrv := &imap.Server{Store: e.store, Blobs: e.blobs, Auth: e.srv.Auth, AllowPlainLoopback: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go isrv.Serve(l, false)
	t.Cleanup(func() { isrv.Shutdown(context.Background()) })
	ctx := context.Background()
	inbox, err := e.store.Mailbox(ctx, 1, "INBOX")
	if err != nil {
		t.Fatal(err)
	}

	// Initial sync over JMAP: the session, the mailboxes, then pages of
	// 500 emails (maxObjectsInGet), eight pages to a request.
	jc := newJMAPClient(t, e)
	jc.do("GET", "/.well-known/jmap", nil)
	r := jc.calls([]any{"Mailbox/get", map[string]any{}, "m"})
	state := r[0]["state"].(string)
	got := 0
	for pos := 0; pos < n; {
		var calls [][]any
		for range 8 {
			if pos >= n {
				break
			}
			q := fmt.Sprintf("q%d", pos)
			calls = append(calls,
				[]any{"Email/query", map[string]any{"filter": map[string]any{"inMailbox": mailboxID(inbox.ID)}, "position": pos, "limit": 500}, q},
				[]any{"Email/get", map[string]any{"#ids": map[string]any{"resultOf": q, "name": "Email/query", "path": "/ids"}, "properties": syncProps}, "g" + q})
			pos += 500
		}
		for i, resp := range jc.calls(calls...) {
			if i%2 == 1 {
				got += len(resp["list"].([]any))
			}
		}
	}
	jc.w.took = time.Since(jc.w.start)
	if got != n {
		t.Fatalf("JMAP initial sync got %d emails, want %d", got, n)
	}
	jmapInitial := jc.w

	// Initial sync over IMAP.
	iw := &wire{start: time.Now()}
	ic := dialIMAP(t, l.Addr().String(), iw)
	ic.cmd(fmt.Sprintf("LOGIN %s %q", testUser, testPass))
	ic.cmd("ENABLE QRESYNC")
	sel := ic.cmd("SELECT INBOX")
	lines := ic.cmd("UID FETCH 1:* " + syncFetch)
	ic.cmd("LOGOUT")
	iw.took = time.Since(iw.start)
	if c := count(lines, " FETCH "); c != n {
		t.Fatalf("IMAP initial sync got %d messages, want %d", c, n)
	}
	var highest uint64
	for _, s := range sel {
		fmt.Sscanf(s, "* OK [HIGHESTMODSEQ %d]", &highest)
	}
	imapInitial := iw

	// 100 changes, as other clients make them.
	one := func(uid uint32) []store.UIDRange { return []store.UIDRange{{First: uid, Last: uid}} }
	for uid := uint32(1); uid <= 50; uid++ {
		if _, err := e.store.UpdateFlags(ctx, 1, store.FlagUpdate{Mailbox: inbox.ID, UIDs: one(uid), Op: store.FlagsAdd, Flags: []string{store.FlagSeen}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 25 {
		e.deliver("INBOX", fmt.Sprintf("From: new@example.org\nSubject: new %d\nMessage-ID: <new%d@example.org>\n\nnew\n", i, i))
	}
	if _, err := e.store.UpdateFlags(ctx, 1, store.FlagUpdate{Mailbox: inbox.ID, UIDs: []store.UIDRange{{First: 51, Last: 75}}, Op: store.FlagsAdd, Flags: []string{store.FlagDeleted}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Expunge(ctx, 1, inbox.ID, nil); err != nil {
		t.Fatal(err)
	}

	// Resync over JMAP: one request on a new connection.
	jc = newJMAPClient(t, e)
	r = jc.calls(
		[]any{"Email/changes", map[string]any{"sinceState": state}, "c"},
		[]any{"Email/get", map[string]any{"#ids": map[string]any{"resultOf": "c", "name": "Email/changes", "path": "/created"}, "properties": syncProps}, "new"},
		[]any{"Email/get", map[string]any{"#ids": map[string]any{"resultOf": "c", "name": "Email/changes", "path": "/updated"}, "properties": []string{"keywords", "mailboxIds"}}, "upd"},
		[]any{"Mailbox/changes", map[string]any{"sinceState": state}, "mc"},
		[]any{"Mailbox/get", map[string]any{"#ids": map[string]any{"resultOf": "mc", "name": "Mailbox/changes", "path": "/updated"}, "properties": []string{"totalEmails", "unreadEmails", "totalThreads", "unreadThreads"}}, "mg"},
	)
	jc.w.took = time.Since(jc.w.start)
	if c, u, d := len(r[0]["created"].([]any)), len(r[0]["updated"].([]any)), len(r[0]["destroyed"].([]any)); c != 25 || u != 50 || d != 25 {
		t.Fatalf("JMAP resync: %d created, %d updated, %d destroyed", c, u, d)
	}
	jmapResync := jc.w

	// Resync over IMAP: QRESYNC's SELECT reports expunges and flag
	// changes, then the new messages are fetched.
	iw = &wire{start: time.Now()}
	ic = dialIMAP(t, l.Addr().String(), iw)
	ic.cmd(fmt.Sprintf("LOGIN %s %q", testUser, testPass))
	ic.cmd("ENABLE QRESYNC")
	sel = ic.cmd(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d 1:%d))", inbox.UIDValidity, highest, n))
	lines = ic.cmd(fmt.Sprintf("UID FETCH %d:* %s", n+1, syncFetch))
	ic.cmd("LOGOUT")
	iw.took = time.Since(iw.start)
	if v, f, nw := count(sel, "VANISHED (EARLIER)"), count(sel, " FETCH "), count(lines, " FETCH "); v != 1 || f != 50 || nw != 25 {
		t.Fatalf("IMAP resync: %d VANISHED, %d flag changes, %d new messages", v, f, nw)
	}
	imapResync := iw

	t.Logf("%d messages, then 100 changes:\n"+
		"JMAP initial sync %v\nIMAP initial sync %v\nJMAP resync       %v\nIMAP resync       %v",
		n, jmapInitial, imapInitial, jmapResync, imapResync)
}
