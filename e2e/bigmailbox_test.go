package e2e

import (
	"io"
	"net/http"
	"regexp"
	"slices"
	"testing"
)

// bigMailboxScript fills a mailbox past the size at which the server keeps
// its rows in memory (a FETCH spanning 500 UIDs), reads it once to fill that
// cache, changes it from a second session, and reads it again from a third,
// with Python's imaplib.
const bigMailboxScript = `
import imaplib, json, re, socket, sys
port, user, pw, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def conn():
    c = imaplib.IMAP4("127.0.0.1", int(port))
    # imaplib writes a literal and its CRLF apart: without this, Nagle's
    # algorithm holds the CRLF for the server's delayed ACK, 40 ms an APPEND.
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.login(user, pw)
    c.select("INBOX")
    return c

def flags(c):
    typ, data = c.uid("FETCH", "1:*", "(FLAGS)")
    assert typ == "OK", data
    out = {}
    for d in data:
        m = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)", d)
        out[int(m.group(1))] = m.group(2).decode().split()
    return out

def nums(c, *args):
    typ, data = c.uid(*args)
    assert typ == "OK", data
    return [int(x) for x in data[0].split()]

a = conn()
for i in range(n):
    typ, data = a.append("INBOX", None, None, b"Subject: m%d\r\n\r\nbody %d\r\n" % (i, i))
    assert typ == "OK", data
before = flags(a)

b = conn()
b.uid("STORE", "10:20", "+FLAGS", "(\\Flagged)")
b.uid("STORE", "30:40", "+FLAGS", "(\\Deleted)")
b.expunge()
b.append("INBOX", "(\\Seen)", None, b"Subject: late\r\n\r\nlate\r\n")
b.logout()

c = conn()
print(json.dumps({
    "before": len(before),
    "after": flags(c),
    "flagged": nums(c, "SEARCH", "FLAGGED"),
    "sorted": nums(c, "SORT", "(REVERSE ARRIVAL)", "UTF-8", "ALL"),
}))
c.logout()
a.logout()
`

// TestBigMailboxCache checks that the rows the server keeps in memory for
// large mailboxes follow what other sessions change.
func TestBigMailboxCache(t *testing.T) {
	need(t, "python3")
	data, config := newData(t, "")
	s := startServer(t, data, config)
	const user, pass, n = "big@example.test", "big-secret-1", 600
	setupAccount(t, s, user, pass)
	out := python(t, bigMailboxScript, s.port("imap"), user, pass, "600")
	var res struct {
		Before  int
		After   map[uint32][]string
		Flagged []uint32
		Sorted  []uint32
	}
	if err := jsonUnmarshal(out, &res); err != nil {
		t.Fatalf("imaplib output %q: %v", out, err)
	}
	if res.Before != n {
		t.Fatalf("first FETCH listed %d messages, want %d", res.Before, n)
	}
	var want []uint32
	for uid := uint32(1); uid <= n+1; uid++ {
		if uid < 30 || uid > 40 {
			want = append(want, uid)
		}
	}
	var got []uint32
	for uid := range res.After {
		got = append(got, uid)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("after the changes FETCH listed UIDs %v..., want %d messages without 30:40 and with %d", got[:min(len(got), 45)], len(want), n+1)
	}
	for uid, fl := range res.After {
		wantFlag := ""
		switch {
		case uid >= 10 && uid <= 20:
			wantFlag = `\Flagged`
		case uid == n+1:
			wantFlag = `\Seen`
		}
		if (wantFlag == "" && len(fl) != 0) || (wantFlag != "" && !slices.Equal(fl, []string{wantFlag})) {
			t.Errorf("UID %d has flags %v, want %q", uid, fl, wantFlag)
		}
	}
	if want := []uint32{10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}; !slices.Equal(res.Flagged, want) {
		t.Errorf("UID SEARCH FLAGGED = %v, want %v", res.Flagged, want)
	}
	if len(res.Sorted) != len(want) || res.Sorted[0] != n+1 || res.Sorted[len(res.Sorted)-1] != 1 {
		t.Errorf("UID SORT (REVERSE ARRIVAL) gave %d UIDs from %v, want %d from %d down to 1", len(res.Sorted), res.Sorted[:min(3, len(res.Sorted))], len(want), n+1)
	}

	// The metrics show the mailbox held in memory, as it is now, in the
	// one cell of embedded mode.
	resp, err := http.Get("http://" + s.addr("http") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, re := range []string{`(?m)^casella_store_cache_messages\{cell=""\} 590$`, `(?m)^casella_store_cache_mailboxes\{cell=""\} 1$`, `(?m)^casella_store_cache_fills_total\{cell=""\} [1-9]`} {
		if !regexp.MustCompile(re).Match(body) {
			t.Errorf("/metrics has no line matching %s", re)
		}
	}
}
