package jmap

import (
	"bufio"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"casella/internal/directory"
)

func (e *testEnv) uploadText(body string) string {
	e.t.Helper()
	resp := e.do("POST", Prefix+"/upload/A1/", body)
	if resp.StatusCode != 201 {
		e.t.Fatalf("upload: %s", resp.Status)
	}
	return decode(e.t, resp.Body)["blobId"].(string)
}

// TestSieveScripts runs JMAP Sieve (RFC 9661) against a real server on
// loopback, on the directory ManageSieve uses.
func TestSieveScripts(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	session := decode(t, e.do("GET", "/.well-known/jmap", "").Body)
	acctCaps := session["accounts"].(map[string]any)["A1"].(map[string]any)["accountCapabilities"].(map[string]any)
	if c, ok := acctCaps[capSieve].(map[string]any); !ok || c["maxNumberRedirects"] == nil || c["sieveExtensions"] == nil {
		t.Fatalf("sieve capability: %v", acctCaps[capSieve])
	}

	good := e.uploadText(`require "fileinto"; if header :contains "subject" "x" { fileinto "X"; }`)
	bad := e.uploadText("require \"fileinto\";\nfileinto;\n")
	if v := e.call1("SieveScript/validate", map[string]any{"blobId": good}); v["error"] != nil {
		t.Errorf("validate good: %v", v)
	}
	v := e.call1("SieveScript/validate", map[string]any{"blobId": bad})
	if se, ok := v["error"].(map[string]any); !ok || se["type"] != "invalidSieve" || !strings.Contains(se["description"].(string), "line 2") {
		t.Errorf("validate bad: %v", v)
	}

	set := e.call1("SieveScript/set", map[string]any{
		"create":                  map[string]any{"a": map[string]any{"name": "filters", "blobId": good}, "b": map[string]any{"name": "broken", "blobId": bad}},
		"onSuccessActivateScript": "#a",
	})
	if set["created"].(map[string]any)["a"] == nil || set["notCreated"].(map[string]any)["b"].(map[string]any)["type"] != "invalidSieve" {
		t.Fatalf("set: %v", set)
	}
	// One creation failed: the script is not activated.
	if name, _, err := e.srv.Sieve.ActiveSieveScript(ctx, 1); err == nil {
		t.Errorf("activated %q although a change failed", name)
	}
	id := set["created"].(map[string]any)["a"].(map[string]any)["id"].(string)
	set = e.call1("SieveScript/set", map[string]any{"onSuccessActivateScript": id})
	if u := set["updated"].(map[string]any)[id]; u == nil || u.(map[string]any)["isActive"] != true {
		t.Errorf("activate: %v", set)
	}
	// ManageSieve's storage sees it.
	if name, src, err := e.srv.Sieve.ActiveSieveScript(ctx, 1); err != nil || name != "filters" || !strings.Contains(src, "fileinto") {
		t.Errorf("directory: %q %q %v", name, src, err)
	}

	// A run-time failure of this version shows; of another, not.
	_, src, _ := e.srv.Sieve.SieveScript(ctx, 1, "filters")
	if err := directory.RecordSieveFailure(ctx, e.srv.Sieve.(directory.SieveMemory), 1, "filters", sha256.Sum256([]byte(src)), "line 1, column 2: boom", time.Now()); err != nil {
		t.Fatal(err)
	}
	got := e.call1("SieveScript/get", map[string]any{"ids": []string{id, "Snope"}})
	if f, _ := got["list"].([]any)[0].(map[string]any)["casella:failure"].(string); !strings.Contains(f, "line 1, column 2: boom") {
		t.Errorf("the failure does not show: %v", got)
	}
	list := got["list"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["name"] != "filters" || list[0].(map[string]any)["isActive"] != true || len(got["notFound"].([]any)) != 1 {
		t.Fatalf("get: %v", got)
	}
	resp := e.do("GET", Prefix+"/download/A1/"+list[0].(map[string]any)["blobId"].(string)+"/filters.sieve?type=application/sieve", "")
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || !strings.Contains(string(body), `fileinto "X"`) {
		t.Errorf("download: %s %q", resp.Status, body)
	}

	if err := e.srv.Sieve.PutSieveScript(ctx, 1, "other", "keep;"); err != nil {
		t.Fatal(err)
	}
	otherScript, _, err := e.srv.Sieve.SieveScript(ctx, 1, "other")
	if err != nil {
		t.Fatal(err)
	}
	other := otherScript.ID
	q := e.call1("SieveScript/query", map[string]any{"filter": map[string]any{"isActive": false}, "sort": []any{map[string]any{"property": "name"}}, "calculateTotal": true})
	if ids := q["ids"].([]any); len(ids) != 1 || ids[0] != other || q["total"] != float64(1) {
		t.Errorf("query: %v", q)
	}

	set = e.call1("SieveScript/set", map[string]any{"destroy": []string{id}})
	if set["notDestroyed"].(map[string]any)[id].(map[string]any)["type"] != "sieveIsActive" {
		t.Errorf("destroy active: %v", set)
	}
	set = e.call1("SieveScript/set", map[string]any{"update": map[string]any{other: map[string]any{"name": "renamed", "blobId": good}}, "onSuccessDeactivateScript": true})
	if u, ok := set["updated"].(map[string]any)[other]; !ok || u != nil || set["updated"].(map[string]any)[id].(map[string]any)["isActive"] != false {
		t.Errorf("update and deactivate: %v", set)
	}
	// A rename keeps the id (RFC 8620 section 1.2), by JMAP and by
	// ManageSieve's RENAMESCRIPT alike.
	if err := e.srv.Sieve.RenameSieveScript(ctx, 1, "renamed", "renamed2"); err != nil {
		t.Fatal(err)
	}
	got = e.call1("SieveScript/get", map[string]any{"ids": []string{other}})
	if l := got["list"].([]any); len(l) != 1 || l[0].(map[string]any)["name"] != "renamed2" {
		t.Errorf("get renamed by id %s: %v", other, got)
	}
	set = e.call1("SieveScript/set", map[string]any{"destroy": []string{id}})
	if len(set["destroyed"].([]any)) != 1 {
		t.Errorf("destroy: %v", set)
	}
	list2, err := e.srv.Sieve.SieveScripts(ctx, 1)
	if err != nil || len(list2) != 1 || list2[0] != (directory.SieveScript{ID: other, Name: "renamed2"}) {
		t.Errorf("left: %v %v", list2, err)
	}
}

// sieveChangesSince collects SieveScript/changes from state, maxChanges
// at a time, following hasMoreChanges; it returns the ids and the state
// reached.
func (e *testEnv) sieveChangesSince(state string, maxChanges int) (created, updated, destroyed []string, newState string) {
	e.t.Helper()
	created, updated, destroyed = []string{}, []string{}, []string{}
	for range 100 {
		args := map[string]any{"sinceState": state}
		if maxChanges > 0 {
			args["maxChanges"] = maxChanges
		}
		ch := e.call1("SieveScript/changes", args)
		if ch["oldState"] != state {
			e.t.Fatalf("changes: oldState %v, asked %s", ch["oldState"], state)
		}
		for k, l := range map[string]*[]string{"created": &created, "updated": &updated, "destroyed": &destroyed} {
			for _, id := range ch[k].([]any) {
				*l = append(*l, id.(string))
			}
		}
		if n := len(ch["created"].([]any)) + len(ch["updated"].([]any)) + len(ch["destroyed"].([]any)); maxChanges > 0 && n > maxChanges {
			e.t.Errorf("changes: %d ids, more than maxChanges %d", n, maxChanges)
		}
		state = ch["newState"].(string)
		if ch["hasMoreChanges"] != true {
			return created, updated, destroyed, state
		}
	}
	e.t.Fatal("changes: hasMoreChanges without end")
	return
}

// TestSieveChanges runs SieveScript/changes (RFC 9661 section 2.2, RFC
// 8620 section 5.2) on loopback from the directory's change log, with
// changes made by JMAP and, through the same directory calls,
// ManageSieve.
func TestSieveChanges(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	get := func() string { return e.call1("SieveScript/get", map[string]any{})["state"].(string) }
	idOf := func(name string) string {
		t.Helper()
		s, _, err := e.srv.Sieve.SieveScript(ctx, 1, name)
		if err != nil {
			t.Fatal(err)
		}
		return s.ID
	}
	eq := func(what string, got, want []string) {
		t.Helper()
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
	s0 := get()
	if c, u, d, st := e.sieveChangesSince(s0, 0); len(c)+len(u)+len(d) != 0 || st != s0 {
		t.Errorf("changes at the current state: %v %v %v %s", c, u, d, st)
	}
	if typ := e.callErr("SieveScript/changes", map[string]any{"sinceState": s0, "maxChanges": 0}); typ != "invalidArguments" {
		t.Errorf("maxChanges 0: %s, want invalidArguments", typ)
	}

	// PUTSCRIPT over ManageSieve.
	if err := e.srv.Sieve.PutSieveScript(ctx, 1, "new", "keep;"); err != nil {
		t.Fatal(err)
	}
	newID := idOf("new")
	s1 := get()
	c, u, d, st := e.sieveChangesSince(s0, 0)
	eq("created by ManageSieve", c, []string{newID})
	if len(u)+len(d) != 0 || st != s1 {
		t.Errorf("after PUTSCRIPT: %v %v %s, want state %s", u, d, st, s1)
	}

	// Created and activated by JMAP.
	blob := e.uploadText("keep;")
	set := e.call1("SieveScript/set", map[string]any{"create": map[string]any{"b": map[string]any{"name": "b", "blobId": blob}},
		"onSuccessActivateScript": "#b", "ifInState": s1})
	bID := set["created"].(map[string]any)["b"].(map[string]any)["id"].(string)
	if set["oldState"] != s1 || set["newState"] != get() {
		t.Errorf("set states: %v", set)
	}
	s2 := get()
	c, u, d, _ = e.sieveChangesSince(s1, 0)
	eq("created by JMAP", c, []string{bID})
	if len(u)+len(d) != 0 {
		t.Errorf("after set: updated %v destroyed %v", u, d)
	}
	if typ := e.callErr("SieveScript/set", map[string]any{"ifInState": s1, "destroy": []string{newID}}); typ != "stateMismatch" {
		t.Errorf("ifInState of an old state: %s", typ)
	}

	// RENAMESCRIPT and SETACTIVE over ManageSieve; then destroyed by JMAP.
	if err := e.srv.Sieve.RenameSieveScript(ctx, 1, "new", "newer"); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Sieve.SetActiveSieveScript(ctx, 1, "newer"); err != nil {
		t.Fatal(err)
	}
	c, u, d, _ = e.sieveChangesSince(s2, 0)
	eq("renamed and switched", u, []string{newID, bID})
	if len(c)+len(d) != 0 {
		t.Errorf("after rename: created %v destroyed %v", c, d)
	}
	s3 := get()
	set = e.call1("SieveScript/set", map[string]any{"destroy": []string{bID}})
	if len(set["destroyed"].([]any)) != 1 {
		t.Fatalf("destroy: %v", set)
	}
	c, u, d, _ = e.sieveChangesSince(s3, 0)
	eq("destroyed", d, []string{bID})
	// From the start, b was created and destroyed: it is left out.
	c, u, d, st = e.sieveChangesSince(s0, 0)
	eq("since the start: created", c, []string{newID})
	if len(u)+len(d) != 0 || st != get() {
		t.Errorf("since the start: %v %v %s", u, d, st)
	}
	// One at a time, the same answer in several steps.
	c, u, d, st = e.sieveChangesSince(s1, 1)
	eq("one at a time: updated", u, []string{newID})
	eq("one at a time: destroyed", d, []string{bID})
	if len(c) > 1 || st != get() {
		t.Errorf("one at a time: created %v, state %s", c, st)
	}

	future, _ := strconv.Atoi(get())
	for _, bad := range []string{"nonsense", "-1", strconv.Itoa(future + 1)} {
		if typ := e.callErr("SieveScript/changes", map[string]any{"sinceState": bad}); typ != "cannotCalculateChanges" {
			t.Errorf("changes since %q: %s, want cannotCalculateChanges", bad, typ)
		}
	}
}

// TestSieveQueryChanges runs SieveScript/queryChanges (RFC 8620 section
// 5.6): scripts changed since the query state are removed and added back
// where they now stand.
func TestSieveQueryChanges(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	for _, n := range []string{"b", "d"} {
		if err := e.srv.Sieve.PutSieveScript(ctx, 1, n, "keep;"); err != nil {
			t.Fatal(err)
		}
	}
	query := map[string]any{"filter": map[string]any{"isActive": false}, "sort": []any{map[string]any{"property": "name"}}}
	q := e.call1("SieveScript/query", query)
	if q["canCalculateChanges"] != true || len(q["ids"].([]any)) != 2 {
		t.Fatalf("query: %v", q)
	}
	qs := q["queryState"].(string)
	same := func() map[string]any {
		m := map[string]any{"sinceQueryState": qs, "calculateTotal": true}
		for k, v := range query {
			m[k] = v
		}
		return m
	}
	if qc := e.call1("SieveScript/queryChanges", same()); len(qc["added"].([]any))+len(qc["removed"].([]any)) != 0 || qc["newQueryState"] != qs {
		t.Errorf("no change: %v", qc)
	}
	// "a" created, "d" activated (it leaves the results), "b" renamed "e".
	if err := e.srv.Sieve.PutSieveScript(ctx, 1, "a", "keep;"); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Sieve.SetActiveSieveScript(ctx, 1, "d"); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Sieve.RenameSieveScript(ctx, 1, "b", "e"); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	list, _ := e.srv.Sieve.SieveScripts(ctx, 1)
	for _, s := range list {
		ids[s.Name] = s.ID
	}
	qc := e.call1("SieveScript/queryChanges", same())
	var removed []string
	for _, r := range qc["removed"].([]any) {
		removed = append(removed, r.(string))
	}
	slices.Sort(removed)
	want := []string{ids["a"], ids["d"], ids["e"]}
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	added := qc["added"].([]any)
	if len(added) != 2 || added[0].(map[string]any)["id"] != ids["a"] || added[0].(map[string]any)["index"] != float64(0) ||
		added[1].(map[string]any)["id"] != ids["e"] || added[1].(map[string]any)["index"] != float64(1) || qc["total"] != float64(2) {
		t.Errorf("added: %v", qc)
	}
	if qc["newQueryState"] != e.call1("SieveScript/query", query)["queryState"] {
		t.Errorf("newQueryState %v is not the query's", qc["newQueryState"])
	}
	for _, bad := range []string{"x", "999999"} {
		args := same()
		args["sinceQueryState"] = bad
		if typ := e.callErr("SieveScript/queryChanges", args); typ != "cannotCalculateChanges" {
			t.Errorf("queryChanges since %q: %s", bad, typ)
		}
	}
}

// TestSievePush pushes a StateChange for SieveScript (RFC 8620 section
// 7.3) when a script changes, through JMAP or ManageSieve.
func TestSievePush(t *testing.T) {
	e := newTestEnv(t)
	for _, via := range []string{"jmap", "managesieve"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", e.http.URL+Prefix+"/eventsource?types=SieveScript&closeafter=state&ping=1", nil)
		req.SetBasicAuth(testUser, testPass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(resp.Body)
		changed, last := false, ""
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break // closeafter=state ended the stream
			}
			if strings.HasPrefix(line, "event: ping") && !changed {
				changed = true
				if via == "jmap" {
					e.call1("SieveScript/set", map[string]any{"create": map[string]any{"x": map[string]any{"name": "pushed", "blobId": e.uploadText("keep;")}}})
				} else if err := e.srv.Sieve.RenameSieveScript(ctx, 1, "pushed", "pushed2"); err != nil {
					t.Fatal(err) // as ManageSieve's RENAMESCRIPT does
				}
			}
			if strings.HasPrefix(line, "data: ") {
				last = line
			}
		}
		resp.Body.Close()
		cancel()
		state := e.call1("SieveScript/get", map[string]any{"ids": []string{}})["state"].(string)
		if !strings.Contains(last, `"A1":{"SieveScript":"`+state+`"}`) {
			t.Errorf("via %s: pushed %s, want SieveScript state %s", via, last, state)
		}
	}
}
