package jmap

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestWebSocket(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, send, read := dialWS(ctx, t, e)
	send(map[string]any{"@type": "Request", "id": "r1", "using": using, "methodCalls": []any{[]any{"Email/query", map[string]any{}, "q"}}})
	resp := read()
	if resp["@type"] != "Response" || resp["requestId"] != "r1" || len(resp["methodResponses"].([]any)) != 1 {
		t.Fatalf("response: %v", resp)
	}
	send(map[string]any{"@type": "Request", "id": "r2", "using": []string{"urn:example:nope"}, "methodCalls": []any{}})
	if m := read(); m["@type"] != "RequestError" || m["type"] != errUnknownCapability || m["requestId"] != "r2" {
		t.Errorf("request error: %v", m)
	}
	send(map[string]any{"@type": "WebSocketPushEnable", "dataTypes": []string{"Email"}})
	// The push is enabled once the next request is answered: messages
	// are handled in order.
	send(map[string]any{"@type": "Request", "id": "r3", "using": using, "methodCalls": []any{[]any{"Core/echo", map[string]any{}, "e"}}})
	if m := read(); m["requestId"] != "r3" {
		t.Fatalf("echo: %v", m)
	}
	e.deliver("INBOX", strings.Replace(simpleMsg, "m1@", "m7@", 1))
	m := read()
	changed, _ := m["changed"].(map[string]any)["A1"].(map[string]any)
	if m["@type"] != "StateChange" || changed["Email"] == nil || changed["Mailbox"] != nil {
		t.Errorf("push: %v", m)
	}
	conn.Close(websocket.StatusNormalClosure, "")
}

func TestWebSocketNeedsSubprotocol(t *testing.T) {
	e := newTestEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequest("GET", e.http.URL, nil)
	req.SetBasicAuth(testUser, testPass)
	conn, _, err := websocket.Dial(ctx, strings.Replace(e.http.URL, "http", "ws", 1)+Prefix+"/ws", &websocket.DialOptions{HTTPHeader: req.Header})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if _, _, err := conn.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("without the jmap subprotocol: %v", err)
	}
}

// dialWS opens a JMAP WebSocket as the test user and returns functions
// that send and read one message each.
func dialWS(ctx context.Context, t *testing.T, e *testEnv) (*websocket.Conn, func(any), func() map[string]any) {
	t.Helper()
	sess := decode(t, e.do("GET", "/.well-known/jmap", "").Body)
	url := sess["capabilities"].(map[string]any)[capWebSocket].(map[string]any)["url"].(string)
	h := http.Header{}
	req, _ := http.NewRequest("GET", e.http.URL, nil)
	req.SetBasicAuth(testUser, testPass)
	h.Set("Authorization", req.Header.Get("Authorization"))
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"jmap"}, HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	send := func(v any) {
		b, _ := json.Marshal(v)
		if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	read := func() map[string]any {
		_, b, err := conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	return conn, send, read
}

// TestWebSocketPushState reconnects with the pushState of the last
// StateChange: what changed while the client was away is pushed at once
// (RFC 8887 section 4.3.5.2), and an up-to-date pushState pushes nothing.
func TestWebSocketPushState(t *testing.T) {
	e := newTestEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	enable := func(send func(any), read func() map[string]any, pushState any) {
		m := map[string]any{"@type": "WebSocketPushEnable", "dataTypes": []string{"Email", "Mailbox"}}
		if pushState != nil {
			m["pushState"] = pushState
		}
		send(m)
		send(map[string]any{"@type": "Request", "id": "sync", "using": using, "methodCalls": []any{[]any{"Core/echo", map[string]any{}, "e"}}})
	}
	conn, send, read := dialWS(ctx, t, e)
	enable(send, read, nil)
	if m := read(); m["requestId"] != "sync" {
		t.Fatalf("echo: %v", m)
	}
	e.deliver("INBOX", simpleMsg)
	first := read()
	ps, ok := first["pushState"].(string)
	if first["@type"] != "StateChange" || !ok || ps == "" {
		t.Fatalf("state change without pushState: %v", first)
	}
	conn.Close(websocket.StatusNormalClosure, "")

	e.deliver("INBOX", strings.Replace(simpleMsg, "m1@", "m8@", 1))
	_, send, read = dialWS(ctx, t, e)
	enable(send, read, ps)
	var got []map[string]any
	for range 2 {
		got = append(got, read())
	}
	var change map[string]any
	for _, m := range got {
		if m["@type"] == "StateChange" {
			change = m
		}
	}
	changed, _ := change["changed"].(map[string]any)["A1"].(map[string]any)
	if change == nil || changed["Email"] == nil || change["pushState"] == ps {
		t.Fatalf("reconnecting with an old pushState pushed %v", got)
	}

	_, send, read = dialWS(ctx, t, e)
	enable(send, read, change["pushState"])
	if m := read(); m["requestId"] != "sync" {
		t.Fatalf("an up-to-date pushState pushed %v", m)
	}
	send(map[string]any{"@type": "Request", "id": "again", "using": using, "methodCalls": []any{[]any{"Core/echo", map[string]any{}, "e"}}})
	if m := read(); m["requestId"] != "again" {
		t.Fatalf("an up-to-date pushState pushed %v", m)
	}
}
