package jmap

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestEventSource checks that a delivery, as the delivery loop makes it,
// is pushed as a StateChange, and that closeafter=state ends the stream.
func TestEventSource(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.http.URL+Prefix+"/eventsource?types=Email&closeafter=state&ping=1", nil)
	req.SetBasicAuth(testUser, testPass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("eventsource: %s %v", resp.Status, resp.Header)
	}
	r := bufio.NewReader(resp.Body)
	var events []string
	delivered := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break // closeafter=state ended the stream
		}
		if strings.HasPrefix(line, "event: ping") && !delivered {
			// The stream is live: make a change.
			delivered = true
			e.deliver("INBOX", strings.Replace(simpleMsg, "m1@", "m9@", 1))
		}
		if strings.HasPrefix(line, "data: ") {
			events = append(events, line)
		}
	}
	last := events[len(events)-1]
	if !strings.Contains(last, `"@type":"StateChange"`) || !strings.Contains(last, `"A1":{"Email":`) || strings.Contains(last, "Mailbox") {
		t.Errorf("state event: %s", last)
	}
	if !strings.Contains(events[0], `"interval":1`) {
		t.Errorf("ping event: %s", events[0])
	}
	state := e.call1("Email/get", map[string]any{"ids": []string{}})["state"].(string)
	if !strings.Contains(last, `"Email":"`+state+`"`) {
		t.Errorf("pushed state is not the current state %s: %s", state, last)
	}
}

func TestEventSourceBadArguments(t *testing.T) {
	e := newTestEnv(t)
	for _, q := range []string{"closeafter=maybe", "ping=-1", "ping=x"} {
		if resp := e.do("GET", Prefix+"/eventsource?"+q, ""); resp.StatusCode != 400 {
			t.Errorf("%s: %s", q, resp.Status)
		}
	}
}

// TestEventSourceShutdown checks that Shutdown ends a push stream, so
// that an HTTP server's graceful shutdown does not wait for it.
func TestEventSourceShutdown(t *testing.T) {
	e := newTestEnv(t)
	resp := e.do("GET", Prefix+"/eventsource?types=*&closeafter=no&ping=0", "")
	if resp.StatusCode != 200 {
		t.Fatalf("eventsource: %s", resp.Status)
	}
	e.srv.Shutdown()
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("stream ended with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the stream outlived Shutdown")
	}
}
