package jmap

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// pushTypes are the data types whose state a StateChange reports; they
// share the account's state (package notes).
var pushTypes = []string{"Mailbox", "Email", "Thread"}

// minPing is the shortest ping interval granted (RFC 8620 section 7.3:
// the server may raise the client's value).
const minPing = time.Second

// serveEventSource pushes StateChange objects as server-sent events
// (RFC 8620 section 7.3), driven by the store's watch.
func (s *Server) serveEventSource(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	types := pushTypes
	if t := q.Get("types"); t != "" && t != "*" {
		types = nil
		for _, name := range strings.Split(t, ",") {
			if slices.Contains(pushTypes, name) {
				types = append(types, name)
			}
		}
	}
	closeAfter := q.Get("closeafter")
	if closeAfter == "" {
		closeAfter = "no"
	}
	if closeAfter != "state" && closeAfter != "no" {
		problem(w, http.StatusBadRequest, "about:blank", "closeafter is state or no")
		return
	}
	var ping time.Duration
	if p := q.Get("ping"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			problem(w, http.StatusBadRequest, "about:blank", "ping is a number of seconds")
			return
		}
		if n > 0 {
			ping = max(time.Duration(n)*time.Second, minPing)
		}
	}
	// The stream outlives the HTTP server's write timeout, which is for
	// ordinary responses.
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return
	}
	ch, cancel := s.Store.Watch(ss.acct.ID)
	defer cancel()
	ctx := r.Context()
	c := &call{ctx: ctx, s: s, acct: ss.acct.ID, ss: ss, blobs: ss.blobs}
	last, err := c.state()
	if err != nil {
		problem(w, http.StatusServiceUnavailable, "urn:ietf:params:jmap:error:serverUnavailable", "The mailbox store is unavailable, try again")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc.Flush()

	var tick <-chan time.Time
	if ping > 0 {
		t := time.NewTicker(ping)
		defer t.Stop()
		tick = t.C
	}
	id := accountID(ss.acct.ID)
	done := s.doneChan()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-tick:
			fmt.Fprintf(w, "event: ping\ndata: {\"interval\":%d}\n\n", int(ping/time.Second))
			rc.Flush()
		case <-ch:
			state, err := c.state()
			if err != nil {
				s.logger().Warn("push: reading state", "err", err, "account", ss.acct.ID)
				continue
			}
			if state == last || len(types) == 0 {
				continue
			}
			last = state
			changed := map[string]string{}
			for _, t := range types {
				changed[t] = state
			}
			b, _ := json.Marshal(map[string]any{"@type": "StateChange", "changed": map[string]any{id: changed}})
			fmt.Fprintf(w, "event: state\nid: %s\ndata: %s\n\n", state, b)
			rc.Flush()
			if closeAfter == "state" {
				return
			}
		}
	}
}
