package jmap

import (
	"context"
	"runtime"
	"slices"
	"testing"

	"casella/internal/store"
)

// sameIndex fails unless two indexes hold the same mailboxes, emails,
// threads and order.
func sameIndex(t *testing.T, got, want *index) {
	t.Helper()
	if len(got.mailboxes) != len(want.mailboxes) {
		t.Fatalf("%d mailboxes, want %d", len(got.mailboxes), len(want.mailboxes))
	}
	if len(got.emails) != len(want.emails) {
		t.Fatalf("%d emails, want %d", len(got.emails), len(want.emails))
	}
	for id, w := range want.emails {
		g := got.emails[id]
		if g == nil {
			t.Fatalf("email %d missing", id)
		}
		if g.thread != w.thread || g.blob != w.blob || !g.received.Equal(w.received) || g.sort != w.sort {
			t.Fatalf("email %d: %+v, want %+v", id, g, w)
		}
		if len(g.copies) != len(w.copies) {
			t.Fatalf("email %d: %d copies, want %d", id, len(g.copies), len(w.copies))
		}
		for i := range w.copies {
			gc, wc := g.copies[i], w.copies[i]
			if gc.Mailbox != wc.Mailbox || gc.UID != wc.UID || gc.ModSeq != wc.ModSeq || !slices.Equal(gc.Flags, wc.Flags) {
				t.Fatalf("email %d copy %d: %+v, want %+v", id, i, gc, wc)
			}
		}
	}
	if len(got.threads) != len(want.threads) {
		t.Fatalf("%d threads, want %d", len(got.threads), len(want.threads))
	}
	for id, w := range want.threads {
		if g := got.threads[id]; !slices.Equal(emailIDs(g), emailIDs(w)) {
			t.Fatalf("thread %d: %v, want %v", id, emailIDs(g), emailIDs(w))
		}
	}
	if !slices.Equal(emailIDs(got.newest), emailIDs(want.newest)) {
		t.Fatalf("newest: %v, want %v", emailIDs(got.newest), emailIDs(want.newest))
	}
}

// TestIndexFollowsLog changes the store as IMAP would, and checks after
// each change that the index brought forward by the change log equals
// one read afresh, and that it shares the emails that did not change.
func TestIndexFollowsLog(t *testing.T) {
	e := newTestEnv(t)
	e.fill(t, 40)
	ctx := context.Background()
	mbID := func(name string) int64 { return parseID('M', e.mailboxID(name)) }
	inbox, trash := mbID("INBOX"), mbID("Trash")
	one := func(uid uint32) []store.UIDRange { return []store.UIDRange{{First: uid, Last: uid}} }
	call := func() *call { return &call{ctx: ctx, s: e.srv, acct: 1, blobs: e.blobs} }
	prev, err := call().index()
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"flags", func() error {
			_, err := e.store.UpdateFlags(ctx, 1, store.FlagUpdate{Mailbox: inbox, UIDs: []store.UIDRange{{First: 3, Last: 7}}, Op: store.FlagsAdd, Flags: []string{store.FlagSeen, "$label"}})
			return err
		}},
		{"copy", func() error { _, err := e.store.Copy(ctx, 1, inbox, one(8), mbID("Archive")); return err }},
		{"move", func() error {
			_, err := e.store.Move(ctx, 1, inbox, []store.UIDRange{{First: 9, Last: 12}}, trash)
			return err
		}},
		{"expunge", func() error {
			if _, err := e.store.UpdateFlags(ctx, 1, store.FlagUpdate{Mailbox: trash, UIDs: []store.UIDRange{{First: 1, Last: 0}}, Op: store.FlagsAdd, Flags: []string{store.FlagDeleted}}); err != nil {
				return err
			}
			_, err := e.store.Expunge(ctx, 1, trash, nil)
			return err
		}},
		{"delivery", func() error {
			e.deliver("INBOX", simpleMsg)
			return nil
		}},
		{"mailbox", func() error {
			mb, err := e.store.CreateMailbox(ctx, 1, "Lists/Go", "")
			if err != nil {
				return err
			}
			if _, err := e.store.Copy(ctx, 1, inbox, []store.UIDRange{{First: 1, Last: 4}}, mb.ID); err != nil {
				return err
			}
			return e.store.DeleteMailbox(ctx, 1, "Lists/Go")
		}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		x, err := call().index()
		if err != nil {
			t.Fatal(err)
		}
		if x.modseq <= prev.modseq {
			t.Fatalf("%s: state %d did not move from %d", st.name, x.modseq, prev.modseq)
		}
		shared := 0
		for id, e := range x.emails {
			if prev.emails[id] == e {
				shared++
			}
		}
		if shared == 0 {
			t.Fatalf("%s: the index was read again, not brought forward", st.name)
		}
		fresh, err := call().build(x.modseq)
		if err != nil {
			t.Fatal(err)
		}
		sameIndex(t, x, fresh)
		prev = x
	}
	if len(prev.gone) != 4 {
		t.Errorf("remembers %d destroyed emails' threads, want 4", len(prev.gone))
	}
}

// TestIndexMemory measures what an index costs per email, the figure
// the cache's bound is set from.
func TestIndexMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a mailbox")
	}
	const n = 5000
	e := newTestEnv(t)
	e.fill(t, n)
	c := &call{ctx: context.Background(), s: e.srv, acct: 1, blobs: e.blobs}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x, err := c.build(1)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (after.HeapAlloc - before.HeapAlloc) / n
	t.Logf("index: %d bytes per email", per)
	if per > 1200 {
		t.Errorf("index costs %d bytes per email, more than the 1200 the cache is sized for", per)
	}
	runtime.KeepAlive(x)
}

// applyQueryChanges is a client's update of its cached results (RFC 8620
// section 5.6).
func applyQueryChanges(ids []string, r map[string]any) []string {
	removed := toStrings(r["removed"])
	ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return slices.Contains(removed, id) })
	for _, a := range r["added"].([]any) {
		m := a.(map[string]any)
		i := int(m["index"].(float64))
		if i > len(ids) {
			i = len(ids)
		}
		ids = slices.Insert(ids, i, m["id"].(string))
	}
	return ids
}

func TestEmailQueryChanges(t *testing.T) {
	e := newTestEnv(t)
	e.fill(t, 24)
	inbox := e.mailboxID("INBOX")
	queries := []map[string]any{
		{},
		{"filter": map[string]any{"inMailbox": inbox}, "sort": []any{map[string]any{"property": "receivedAt", "isAscending": false}}},
		{"filter": map[string]any{"hasKeyword": "$flagged"}},
		{"collapseThreads": true},
		{"sort": []any{map[string]any{"property": "subject"}, map[string]any{"property": "someInThreadHaveKeyword", "keyword": "$flagged"}}},
		{"filter": map[string]any{"operator": "NOT", "conditions": []any{map[string]any{"allInThreadHaveKeyword": "$seen"}}}, "collapseThreads": true},
	}
	before := make([]map[string]any, len(queries))
	for i, q := range queries {
		before[i] = e.call1("Email/query", q)
		if before[i]["canCalculateChanges"] != true {
			t.Fatalf("Email/query: %v", before[i])
		}
	}
	ids := toStrings(before[0]["ids"])
	e.call1("Email/set", map[string]any{
		"update":  map[string]any{ids[3]: map[string]any{"keywords/$flagged": true, "keywords/$seen": true}, ids[10]: map[string]any{"keywords/$flagged": true}},
		"destroy": []string{ids[5], ids[6]},
	})
	e.deliver("INBOX", simpleMsg)
	for i, q := range queries {
		args := map[string]any{"sinceQueryState": before[i]["queryState"], "calculateTotal": true}
		for k, v := range q {
			args[k] = v
		}
		r := e.call1("Email/queryChanges", args)
		now := e.call1("Email/query", q)
		got := applyQueryChanges(toStrings(before[i]["ids"]), r)
		if want := toStrings(now["ids"]); !slices.Equal(got, want) {
			t.Errorf("query %v: applying %v gives\n%v, want\n%v", q, r, got, want)
		}
		if r["newQueryState"] != now["queryState"] || int(r["total"].(float64)) != len(toStrings(now["ids"])) {
			t.Errorf("query %v: %v, then Email/query %v", q, r, now)
		}
	}
	// upToId with a query on immutable properties: nothing beyond it.
	state := e.call1("Email/query", map[string]any{})["queryState"]
	old := toStrings(e.call1("Email/query", map[string]any{})["ids"])
	e.deliver("INBOX", "From: c@example.org\nSubject: late\nMessage-ID: <late@x>\n\nlate\n")
	e.call1("Email/set", map[string]any{"update": map[string]any{old[len(old)-1]: map[string]any{"keywords/$seen": true}}})
	r := e.call1("Email/queryChanges", map[string]any{"sinceQueryState": state, "upToId": old[2]})
	if added := r["added"].([]any); len(added) != 1 || r["removed"].([]any)[0] == old[len(old)-1] && len(r["removed"].([]any)) != 1 {
		t.Errorf("upToId: %v", r)
	}
	if got := applyQueryChanges(old, r)[:4]; !slices.Equal(got, toStrings(e.call1("Email/query", map[string]any{"limit": 4})["ids"])) {
		t.Errorf("upToId: first results %v after %v", got, r)
	}
	if typ := e.callErr("Email/queryChanges", map[string]any{"sinceQueryState": before[0]["queryState"], "maxChanges": 2}); typ != "tooManyChanges" {
		t.Errorf("maxChanges 2: %s, want tooManyChanges", typ)
	}
	// After a restart the threads of destroyed emails are not known:
	// only the queries that need them cannot be calculated.
	e.srv.indexes = indexCache{}
	if typ := e.callErr("Email/queryChanges", map[string]any{"sinceQueryState": before[3]["queryState"], "collapseThreads": true}); typ != "cannotCalculateChanges" {
		t.Errorf("collapseThreads after a restart: %s, want cannotCalculateChanges", typ)
	}
	e.call1("Email/queryChanges", map[string]any{"sinceQueryState": before[0]["queryState"]})
}

func TestMailboxQueryChanges(t *testing.T) {
	e := newTestEnv(t)
	e.fill(t, 1)
	q := map[string]any{"sort": []any{map[string]any{"property": "name"}}, "filter": map[string]any{"hasAnyRole": false}}
	before := e.call1("Mailbox/query", q)
	set := e.call1("Mailbox/set", map[string]any{"create": map[string]any{"a": map[string]any{"name": "Aardvark"}, "z": map[string]any{"name": "Zebra"}}})
	created := set["created"].(map[string]any)
	e.call1("Mailbox/set", map[string]any{"update": map[string]any{created["z"].(map[string]any)["id"].(string): map[string]any{"name": "Bee"}}})
	args := map[string]any{"sinceQueryState": before["queryState"]}
	for k, v := range q {
		args[k] = v
	}
	r := e.call1("Mailbox/queryChanges", args)
	now := toStrings(e.call1("Mailbox/query", q)["ids"])
	if got := applyQueryChanges(toStrings(before["ids"]), r); !slices.Equal(got, now) || len(now) != 2 {
		t.Errorf("applying %v gives %v, want %v", r, got, now)
	}
	args["maxChanges"] = 1
	if typ := e.callErr("Mailbox/queryChanges", args); typ != "tooManyChanges" {
		t.Errorf("maxChanges 1: %s", typ)
	}
}
