package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"casella/internal/blast"
)

// inboundDepth returns the number of messages waiting in the intake spool,
// from the server's status endpoint.
func inboundDepth(t *testing.T, s *server) int {
	t.Helper()
	resp, err := http.Get("http://" + s.addr("http") + "/api/status")
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	defer resp.Body.Close()
	var st struct {
		Queues map[string]struct{ Depth int } `json:"queues"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("status: %v", err)
	}
	return st.Queues["inbound"].Depth
}

// load sends messages over conns connections until each connection has sent
// perConn messages or its connection breaks. It returns the messages that
// got a 250 and all that were attempted, by Message-ID.
func load(addr, prefix, rcpt string, conns, perConn int) (accepted, attempted map[string][]byte) {
	accepted, attempted = map[string][]byte{}, map[string][]byte{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for c := range conns {
		wg.Go(func() {
			cl, err := smtp.Dial(addr)
			if err != nil {
				return
			}
			defer cl.Close()
			if err := cl.Hello("load.e2e.test"); err != nil {
				return
			}
			for i := range perConn {
				id := fmt.Sprintf("%s-%d-%d", prefix, c, i)
				msg := testMessage(id, "load@remote.test", rcpt, fmt.Sprintf("Message %d of connection %d.\r\n%s", i, c, bytes.Repeat([]byte("crash safety "), 1+i%200)))
				mu.Lock()
				attempted[id] = msg
				mu.Unlock()
				if err := blast.Send(cl, "load@remote.test", []string{rcpt}, msg); err != nil {
					return
				}
				mu.Lock()
				accepted[id] = msg
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return accepted, attempted
}

var messageID = regexp.MustCompile(`(?m)^Message-ID: <([^@>]+)@e2e\.test>\r$`)

// checkExactlyOnce reads every message of the mailbox and checks that each
// accepted message is there exactly once with its bytes intact, and that
// nothing else is there but messages that were attempted (a message whose
// 250 was lost in the crash may be delivered, but only once).
func checkExactlyOnce(t *testing.T, s *server, user, pass string, accepted, attempted map[string][]byte) {
	t.Helper()
	checkExactlyOnceIn(t, s, user, pass, "INBOX", accepted, attempted)
}

// checkExactlyOnceIn is checkExactlyOnce for any mailbox.
func checkExactlyOnceIn(t *testing.T, s *server, user, pass, mailbox string, accepted, attempted map[string][]byte) {
	t.Helper()
	seen := map[string]int{}
	for _, raw := range stored(t, s, user, pass, mailbox) {
		_, original := traceSplit(t, raw)
		m := messageID.FindSubmatch(original)
		if m == nil {
			t.Fatalf("stored message without a test Message-ID:\n%.300s", original)
		}
		id := string(m[1])
		seen[id]++
		want, ok := attempted[id]
		if !ok {
			t.Fatalf("stored message %s was never sent", id)
		}
		if !bytes.Equal(original, want) {
			t.Fatalf("message %s stored with different bytes (sha256 %s, sent %s)", id, sum(original), sum(want))
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("message %s delivered %d times", id, n)
		}
	}
	for id := range accepted {
		if seen[id] != 1 {
			t.Errorf("message %s got 250 but was delivered %d times", id, seen[id])
		}
	}
}

func TestCrashSafetySIGKILL(t *testing.T) {
	data, config := newData(t, "")
	s := startServer(t, data, config)
	setupAccount(t, s, "alice@example.test", "alice-secret-1")

	accepted, attempted := map[string][]byte{}, map[string][]byte{}
	for round := range 5 {
		if round > 0 {
			s = startServer(t, data, config)
		}
		killAt := time.Duration(200+rand.IntN(1300)) * time.Millisecond
		killed := make(chan struct{})
		go func() {
			time.Sleep(killAt)
			s.kill()
			close(killed)
		}()
		acc, att := load(s.addr("smtp"), fmt.Sprintf("r%d", round), "alice@example.test", 10, 100)
		<-killed
		for id, m := range acc {
			accepted[id] = m
		}
		for id, m := range att {
			attempted[id] = m
		}
		t.Logf("round %d: killed after %v; %d accepted of %d attempted", round, killAt, len(acc), len(att))
	}

	s = startServer(t, data, config)
	waitFor(t, 120*time.Second, "the spool to drain", func() bool { return inboundDepth(t, s) == 0 })
	checkExactlyOnce(t, s, "alice@example.test", "alice-secret-1", accepted, attempted)
	t.Logf("%d accepted, all delivered exactly once", len(accepted))
}
