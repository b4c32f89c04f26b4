package jmap

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/coder/websocket"
)

// capWebSocket is JMAP over WebSocket (RFC 8887).
const capWebSocket = "urn:ietf:params:jmap:websocket"

// wsURL is the WebSocket endpoint of the session (RFC 8887 section 4).
func wsURL(r *http.Request) string {
	if r.TLS != nil {
		return "wss://" + r.Host + Prefix + "/ws"
	}
	return "ws://" + r.Host + Prefix + "/ws"
}

// wsConn is one JMAP WebSocket connection: requests are answered in
// order, and pushes interleave with responses, never within one.
type wsConn struct {
	s    *Server
	ss   *session
	conn *websocket.Conn
	mu   sync.Mutex // serialises writes

	pushMu     sync.Mutex
	pushCancel context.CancelFunc
}

// serveWebSocket upgrades to the "jmap" subprotocol (RFC 8887 section 3)
// and serves Request, WebSocketPushEnable and WebSocketPushDisable
// messages until the client closes.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request, ss *session) {
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"jmap"}})
	if err != nil {
		return
	}
	defer conn.CloseNow()
	if conn.Subprotocol() != "jmap" {
		conn.Close(websocket.StatusPolicyViolation, "the jmap subprotocol is required")
		return
	}
	conn.SetReadLimit(maxSizeRequest)
	wc := &wsConn{s: s, ss: ss, conn: conn}
	defer wc.disablePush()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-s.doneChan():
			conn.Close(websocket.StatusGoingAway, "server shutting down")
		case <-ctx.Done():
		}
	}()
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			conn.Close(websocket.StatusUnsupportedData, "JMAP messages are text")
			return
		}
		wc.handle(ctx, data)
	}
}

func (wc *wsConn) send(ctx context.Context, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	wc.mu.Lock()
	defer wc.mu.Unlock()
	wc.conn.Write(ctx, websocket.MessageText, b)
}

// handle answers one client message (RFC 8887 section 4.3).
func (wc *wsConn) handle(ctx context.Context, data []byte) {
	var head struct {
		Type string  `json:"@type"`
		ID   *string `json:"id"`
	}
	reqErr := func(typ, detail string) {
		m := map[string]any{"@type": "RequestError", "type": typ, "status": http.StatusBadRequest, "detail": detail}
		if head.ID != nil {
			m["requestId"] = *head.ID
		}
		wc.send(ctx, m)
	}
	if err := json.Unmarshal(data, &head); err != nil {
		reqErr(errNotJSON, "The message is not a JSON object")
		return
	}
	switch head.Type {
	case "Request":
		req, rerr := ParseRequest(data)
		if rerr != nil {
			reqErr(rerr.Type, rerr.Detail)
			return
		}
		for _, u := range req.Using {
			if !capabilities[u] {
				reqErr(errUnknownCapability, "The server does not support the capability "+u)
				return
			}
		}
		if len(req.MethodCalls) > maxCallsInRequest {
			reqErr(errLimit, "The request has more than maxCallsInRequest method calls")
			return
		}
		rctx, cancel := context.WithTimeout(ctx, wc.s.timeout())
		resp := wc.s.run(rctx, wc.ss, req)
		cancel()
		m := map[string]any{"@type": "Response", "methodResponses": resp.MethodResponses, "sessionState": resp.SessionState}
		if resp.CreatedIDs != nil {
			m["createdIds"] = resp.CreatedIDs
		}
		if head.ID != nil {
			m["requestId"] = *head.ID
		}
		wc.send(ctx, m)
	case "WebSocketPushEnable":
		var p struct {
			DataTypes []string `json:"dataTypes"`
			PushState *string  `json:"pushState"`
		}
		json.Unmarshal(data, &p)
		types := pushTypes
		if p.DataTypes != nil {
			types = slices.DeleteFunc(slices.Clone(p.DataTypes), func(t string) bool { return !slices.Contains(pushTypes, t) })
		}
		var since map[string]string
		if p.PushState != nil {
			since = parsePushState(*p.PushState)
		}
		wc.enablePush(ctx, types, since)
	case "WebSocketPushDisable":
		wc.disablePush()
	default:
		reqErr(errNotRequest, "Unknown message type "+strings.TrimSpace(head.Type))
	}
}

// enablePush starts pushing StateChange objects (RFC 8887 section 4.3.5),
// replacing an earlier push of the connection. Each carries a pushState;
// given one back (since), the changes after it are pushed at once.
func (wc *wsConn) enablePush(ctx context.Context, types []string, since map[string]string) {
	wc.disablePush()
	pctx, cancel := context.WithCancel(ctx)
	wc.pushMu.Lock()
	wc.pushCancel = cancel
	wc.pushMu.Unlock()
	changes, err := wc.s.watchStates(pctx, wc.ss, types, since)
	if err != nil {
		wc.s.logger().Warn("push: reading state", "err", err, "account", wc.ss.acct.ID)
		return
	}
	go func() {
		for {
			select {
			case <-pctx.Done():
				return
			case sc := <-changes:
				wc.send(pctx, map[string]any{"@type": "StateChange", "changed": map[string]any{accountID(wc.ss.acct.ID): sc.changed}, "pushState": formatPushState(sc.all)})
			}
		}
	}()
}

func (wc *wsConn) disablePush() {
	wc.pushMu.Lock()
	defer wc.pushMu.Unlock()
	if wc.pushCancel != nil {
		wc.pushCancel()
		wc.pushCancel = nil
	}
}

// formatPushState encodes the states of the pushed types as the opaque
// pushState of RFC 8887 section 4.3.5.2: the client hands it back when it
// reconnects, and parsePushState reads it.
func formatPushState(states map[string]string) string {
	b, _ := json.Marshal(states)
	return base64.RawURLEncoding.EncodeToString(b)
}

// parsePushState reads a pushState from the client. One that does not
// parse is treated as a state older than any: every type is pushed.
func parsePushState(s string) map[string]string {
	states := map[string]string{}
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		json.Unmarshal(b, &states)
	}
	return states
}
