package jmap

import (
	"context"
	"crypto/sha256"
	"io"
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

// TestSieveChanges runs SieveScript/changes (RFC 9661 section 2.2) on
// loopback: the current state has no changes; an older one, after a
// change, is cannotCalculateChanges.
func TestSieveChanges(t *testing.T) {
	e := newTestEnv(t)
	state := e.call1("SieveScript/get", map[string]any{})["state"].(string)
	ch := e.call1("SieveScript/changes", map[string]any{"sinceState": state})
	if ch["oldState"] != state || ch["newState"] != state || ch["hasMoreChanges"] != false || len(ch["created"].([]any)) != 0 ||
		len(ch["updated"].([]any)) != 0 || len(ch["destroyed"].([]any)) != 0 {
		t.Errorf("changes at the current state: %v", ch)
	}
	if typ := e.callErr("SieveScript/changes", map[string]any{"sinceState": state, "maxChanges": 0}); typ != "invalidArguments" {
		t.Errorf("maxChanges 0: %s, want invalidArguments", typ)
	}
	if err := e.srv.Sieve.PutSieveScript(context.Background(), 1, "new", "keep;"); err != nil {
		t.Fatal(err)
	}
	if typ := e.callErr("SieveScript/changes", map[string]any{"sinceState": state}); typ != "cannotCalculateChanges" {
		t.Errorf("changes since an old state: %s, want cannotCalculateChanges", typ)
	}
	if typ := e.callErr("SieveScript/changes", map[string]any{"sinceState": "nonsense"}); typ != "cannotCalculateChanges" {
		t.Errorf("changes since a state never given: %s, want cannotCalculateChanges", typ)
	}
}
