package jmap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"casella/internal/directory"
	"casella/internal/store"
)

// pushTypes are the data types whose state a StateChange reports.
// Mailbox, Email and Thread share the account's state (package notes);
// EmailSubmission (submissions.go), SieveScript (sieve.go) and
// AppPassword (account.go) have their own, kept in the directory;
// RemoteImages's is a digest of its annotation in the store.
var pushTypes = []string{"Mailbox", "Email", "Thread", "EmailSubmission", "SieveScript", "AppPassword", "RemoteImages"}

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
	ctx := r.Context()
	changes, err := s.watchStates(ctx, ss, types, nil)
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
		case sc := <-changes:
			b, _ := json.Marshal(map[string]any{"@type": "StateChange", "changed": map[string]any{id: sc.changed}})
			fmt.Fprintf(w, "event: state\ndata: %s\n\n", b)
			rc.Flush()
			if closeAfter == "state" {
				return
			}
		}
	}
}

// stateChange is one push: the types whose state moved, and the states
// of all the pushed types after the move.
type stateChange struct {
	changed, all map[string]string
}

// watchStates follows the states of an account's types: it sends on the
// channel it returns the types whose state moved since the last send,
// with their new states, until ctx ends. With since (a client's last
// pushState, RFC 8887 section 4.3.5.2), the types whose state differs
// from it are sent at once. It wakes on the store's watch (which
// RemoteImages's annotation is in), on submissions changed through this
// server, on the directory's watch of the account's records (scripts,
// app passwords, submissions, changed on any node), and when the next
// held submission is due to leave, which changes its undoStatus.
func (s *Server) watchStates(ctx context.Context, ss *session, types []string, since map[string]string) (<-chan stateChange, error) {
	c := &call{ctx: ctx, s: s, acct: ss.acct.ID, ss: ss, blobs: ss.blobs}
	last, next, err := c.pushStates(types)
	if err != nil {
		return nil, err
	}
	storeCh, stopStore := s.Store.Watch(ss.acct.ID)
	subCh, stopSubs := s.subWatch.Watch(ss.acct.ID)
	dirChs, stopDir := s.watchRecords(ss.acct.ID, types)
	out := make(chan stateChange)
	go func() {
		defer stopStore()
		defer stopSubs()
		defer stopDir()
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		arm := func(at time.Time) {
			timer.Stop()
			if !at.IsZero() {
				timer.Reset(time.Until(at) + 10*time.Millisecond)
			}
		}
		arm(next)
		if since != nil {
			if changed := moved(since, last); len(changed) > 0 {
				select {
				case out <- stateChange{changed, last}:
				case <-ctx.Done():
					return
				}
			}
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-storeCh:
			case <-subCh:
			case <-dirChs[0]:
			case <-dirChs[1]:
			case <-dirChs[2]:
			case <-timer.C:
			}
			now, next, err := c.pushStates(types)
			if err != nil {
				s.logger().Warn("push: reading state", "err", err, "account", ss.acct.ID)
				continue
			}
			arm(next)
			changed := moved(last, now)
			last = now
			if len(changed) == 0 {
				continue
			}
			select {
			case out <- stateChange{changed, now}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// moved returns the types of now whose state is not the one in before.
func moved(before, now map[string]string) map[string]string {
	changed := map[string]string{}
	for t, st := range now {
		if before[t] != st {
			changed[t] = st
		}
	}
	return changed
}

// pushStates returns the state of each of types, and when the next held
// submission leaves (zero: none is held).
func (c *call) pushStates(types []string) (map[string]string, time.Time, error) {
	out := map[string]string{}
	var mail, subs string
	var next time.Time
	for _, t := range types {
		var err error
		switch {
		case t == "SieveScript":
			out[t], err = c.sieveState()
		case t == "AppPassword":
			out[t], err = c.appPasswordPushState()
		case t == "RemoteImages":
			_, out[t], err = c.loadRemoteImages()
		case t == "EmailSubmission" && subs == "":
			subs, next, err = c.submissionState()
		case t != "EmailSubmission" && mail == "":
			mail, err = c.state()
		}
		if err != nil {
			return nil, time.Time{}, err
		}
		switch t {
		case "SieveScript", "AppPassword", "RemoteImages":
		case "EmailSubmission":
			out[t] = subs
		default:
			out[t] = mail
		}
	}
	return out, next, nil
}

// watchRecords watches the account's records in the directories that
// keep the pushed types among types and tell of their changes (all the
// directories of the tree do, other nodes' changes included), each
// directory once; the channels of the others are nil, which never
// receive.
func (s *Server) watchRecords(acct store.Account, types []string) ([3]<-chan struct{}, func()) {
	var keepers []any
	if slices.Contains(types, "SieveScript") && s.Sieve != nil {
		keepers = append(keepers, s.Sieve)
	}
	if slices.Contains(types, "AppPassword") && s.Tokens != nil {
		keepers = append(keepers, s.Tokens)
	}
	if slices.Contains(types, "EmailSubmission") && s.Submission != nil && s.Submission.Records != nil {
		keepers = append(keepers, s.Submission.Records)
	}
	var chs [3]<-chan struct{}
	var stops []func()
	var seen []directory.RecordWatch
	for _, k := range keepers {
		w, ok := k.(directory.RecordWatch)
		if !ok || slices.Contains(seen, w) {
			continue
		}
		seen = append(seen, w)
		ch, stop := w.WatchRecords(acct)
		chs[len(stops)] = ch
		stops = append(stops, stop)
	}
	return chs, func() {
		for _, stop := range stops {
			stop()
		}
	}
}
