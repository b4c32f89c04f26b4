package jmap

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"casella/internal/directory/sqlitedir"
	"casella/internal/limit"
	"casella/internal/store"
)

// accountEnv is a server whose logins, passwords and app passwords are a
// real directory's, with a login throttle counting failures.
type accountEnv struct {
	*testEnv
	mu      sync.Mutex
	refused map[string]int
}

func newAccountEnv(t *testing.T) *accountEnv {
	e := &accountEnv{testEnv: newTestEnv(t), refused: map[string]int{}}
	dir, err := sqlitedir.Open(filepath.Join(t.TempDir(), "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	if _, err := dir.AddDomain(t.Context(), "example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddAccount(t.Context(), testUser, testPass, 0, ""); err != nil {
		t.Fatal(err)
	}
	e.srv.Auth, e.srv.Tokens = dir, dir
	e.srv.AuthLimit = limit.NewAuth(limit.AuthOptions{Refused: func(proto, reason string) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.refused[proto+"/"+reason]++
	}})
	return e
}

// as sends method calls with the given credentials ("Bearer ..." or a
// password) and returns the HTTP status and the responses.
func (e *accountEnv) as(secret string, calls ...[]any) (int, [][]any) {
	e.t.Helper()
	b, _ := json.Marshal(map[string]any{"using": []string{capCore, capAccount}, "methodCalls": calls})
	req, _ := http.NewRequest("POST", e.http.URL+Prefix+"/api", strings.NewReader(string(b)))
	if strings.HasPrefix(secret, "Bearer ") {
		req.Header.Set("Authorization", secret)
	} else {
		req.SetBasicAuth(testUser, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		MethodResponses [][]any `json:"methodResponses"`
	}
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			e.t.Fatal(err)
		}
	}
	return resp.StatusCode, out.MethodResponses
}

func (e *accountEnv) failures() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refused["jmap/auth_failed"]
}

func argsOf(t *testing.T, r [][]any, name string) map[string]any {
	t.Helper()
	if len(r) == 0 || r[0][0] != name {
		t.Fatalf("want %s, got %v", name, r)
	}
	return r[0][1].(map[string]any)
}

// App passwords over JMAP: created with the current password (the secret
// shown once, never by /get), usable as a bearer token, refused for
// creation by a token, listed, and revoked by id.
func TestAppPasswords(t *testing.T) {
	e := newAccountEnv(t)
	expires := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	create := func(secret, current, name string) [][]any {
		_, r := e.as(secret, []any{"AppPassword/set", map[string]any{
			"currentPassword": current,
			"create":          map[string]any{"k": map[string]any{"name": name, "expires": expires}},
		}, "c"})
		return r
	}
	r := argsOf(t, create(testPass, testPass, "laptop"), "AppPassword/set")
	made := r["created"].(map[string]any)["k"].(map[string]any)
	secret, _ := made["secret"].(string)
	id, _ := made["id"].(string)
	if !strings.HasPrefix(secret, "cst_") || !strings.Contains(secret, id) || made["name"] != "laptop" || made["expires"] == nil {
		t.Fatalf("created %v", made)
	}
	if r["oldState"] == r["newState"] {
		t.Errorf("the state did not move: %v", r)
	}

	// The secret logs in, and is then not good enough to make another.
	if code, r := e.as("Bearer "+secret, []any{"AppPassword/get", map[string]any{}, "g"}); code != 200 || len(argsOf(t, r, "AppPassword/get")["list"].([]any)) != 1 {
		t.Fatalf("get with the new token: %d %v", code, r)
	}
	if r := create("Bearer "+secret, secret, "thief"); r[0][0] != "error" || r[0][1].(map[string]any)["type"] != "forbidden" {
		t.Fatalf("creation with a token as current password: %v", r)
	}
	before := e.failures()
	if r := create(testPass, "wrong password", "other"); r[0][0] != "error" || r[0][1].(map[string]any)["type"] != "forbidden" {
		t.Fatalf("creation with a wrong password: %v", r)
	}
	if got := e.failures(); got != before+1 {
		t.Errorf("a wrong current password counted %d failed logins, want 1", got-before)
	}
	// Duplicate names and bad names fail per object.
	r = argsOf(t, create(testPass, testPass, "laptop"), "AppPassword/set")
	if nc := r["notCreated"].(map[string]any); nc["k"] == nil {
		t.Errorf("a second laptop: %v", r)
	}

	_, g := e.as(testPass, []any{"AppPassword/get", map[string]any{"ids": []string{id, "nope"}}, "g"})
	ga := argsOf(t, g, "AppPassword/get")
	list := ga["list"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["secret"] != nil || list[0].(map[string]any)["lastUsed"] == nil {
		t.Fatalf("get: %v", ga)
	}
	if nf := ga["notFound"].([]any); len(nf) != 1 || nf[0] != "nope" {
		t.Errorf("notFound %v", nf)
	}

	// Revoked by id: the token stops working at once.
	_, d := e.as(testPass, []any{"AppPassword/set", map[string]any{"destroy": []string{id, "laptop"}}, "d"})
	da := argsOf(t, d, "AppPassword/set")
	if ds := da["destroyed"].([]any); len(ds) != 1 || ds[0] != id || da["notDestroyed"].(map[string]any)["laptop"] == nil {
		t.Fatalf("destroy: %v", da)
	}
	if code, _ := e.as("Bearer "+secret, []any{"AppPassword/get", map[string]any{}, "g"}); code != 401 {
		t.Errorf("a revoked token: %d", code)
	}
}

// Password/change needs the current password, counts a wrong one as a
// failed login, refuses short passwords, and the new one logs in while
// the old one no longer does.
func TestPasswordChange(t *testing.T) {
	e := newAccountEnv(t)
	change := func(current, next string) [][]any {
		_, r := e.as(testPass, []any{"Password/change", map[string]any{"currentPassword": current, "newPassword": next}, "p"})
		return r
	}
	errType := func(r [][]any) string {
		if r[0][0] != "error" {
			return ""
		}
		return r[0][1].(map[string]any)["type"].(string)
	}
	before := e.failures()
	if got := errType(change("not it", "a brand new password")); got != "forbidden" {
		t.Fatalf("wrong current password: %q", got)
	}
	if e.failures() != before+1 {
		t.Errorf("failed logins %d, want %d", e.failures(), before+1)
	}
	if got := errType(change(testPass, "short")); got != "invalidArguments" {
		t.Fatalf("a short password: %q", got)
	}
	if r := change(testPass, "a brand new password"); r[0][0] != "Password/change" {
		t.Fatalf("change: %v", r)
	}
	if code, _ := e.as(testPass, []any{"Core/echo", map[string]any{}, "e"}); code != 401 {
		t.Errorf("the old password still logs in: %d", code)
	}
	req, _ := http.NewRequest("GET", e.http.URL+"/.well-known/jmap", nil)
	req.SetBasicAuth(testUser, "a brand new password")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Capabilities    map[string]any    `json:"capabilities"`
		PrimaryAccounts map[string]string `json:"primaryAccounts"`
	}
	json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	if resp.StatusCode != 200 || s.Capabilities[capAccount] == nil || s.PrimaryAccounts[capAccount] == "" {
		t.Errorf("session with the new password: %s, %v", resp.Status, s)
	}
}

// RemoteImages keeps the allowed senders in the account's annotations:
// patched per address by two writers, both kept; whole replacement; bad
// patches refused.
func TestRemoteImages(t *testing.T) {
	e := newTestEnv(t)
	set := func(patch map[string]any) map[string]any {
		return e.call1("RemoteImages/set", map[string]any{"update": map[string]any{"singleton": patch}})
	}
	get := func() map[string]any {
		r := e.call1("RemoteImages/get", map[string]any{"ids": nil})
		return r["list"].([]any)[0].(map[string]any)["allowedSenders"].(map[string]any)
	}
	if got := get(); len(got) != 0 {
		t.Fatalf("at first: %v", got)
	}
	set(map[string]any{"allowedSenders/News@Example.com": true})
	set(map[string]any{"allowedSenders/friend@example.net": true})
	if got := get(); len(got) != 2 || got["news@example.com"] != true || got["friend@example.net"] != true {
		t.Fatalf("after two patches: %v", got)
	}
	set(map[string]any{"allowedSenders/news@example.com": nil})
	if got := get(); len(got) != 1 || got["friend@example.net"] != true {
		t.Fatalf("after removing one: %v", got)
	}
	set(map[string]any{"allowedSenders": map[string]any{"a@b.example": true}})
	if got := get(); len(got) != 1 || got["a@b.example"] != true {
		t.Fatalf("after replacing: %v", got)
	}
	r := set(map[string]any{"colour": "blue"})
	if r["notUpdated"].(map[string]any)["singleton"] == nil {
		t.Errorf("an unknown property: %v", r)
	}
	r = set(map[string]any{"allowedSenders/not-an-address": true})
	if r["notUpdated"].(map[string]any)["singleton"] == nil {
		t.Errorf("not an address: %v", r)
	}
}

// FuzzPatchSenders feeds RemoteImages patches, network input, to the
// patcher: it must not panic, and what it accepts holds only plausible
// lower-case addresses.
func FuzzPatchSenders(f *testing.F) {
	for _, seed := range []string{
		`{"allowedSenders/a@b.example": true}`, `{"allowedSenders/A@B.example": null}`,
		`{"allowedSenders": {"x@y.example": true, "z@w.example": false}}`, `{"allowedSenders/~1~0@x.example": true}`,
		`{"allowedSenders": ["a"]}`, `{"allowedSenders/": true}`, `{"other": 1}`, `[]`, `{"allowedSenders": {"no at": true}}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, patch string) {
		next, serr := patchSenders(map[string]bool{"old@example.org": true}, json.RawMessage(patch))
		if serr != nil {
			return
		}
		for addr, on := range next {
			if !on || addr != strings.ToLower(addr) || !plausibleAddress(addr) {
				t.Fatalf("%s gave %q: %v", patch, addr, on)
			}
		}
	})
}

// The account objects' /get honours properties (RFC 8620 section 5.1),
// their state changes with them, and /changes (section 5.2) answers from
// it: nothing since the current state, the app passwords created and
// destroyed since an older AppPassword state (one created and destroyed
// since is in neither), the singleton updated since an older
// RemoteImages state, cannotCalculateChanges for a state never given.
func TestAccountGetAndChanges(t *testing.T) {
	e := newAccountEnv(t)
	create := e.call1("AppPassword/set", map[string]any{"currentPassword": testPass,
		"create": map[string]any{"k": map[string]any{"name": "phone"}}})
	id := create["created"].(map[string]any)["k"].(map[string]any)["id"].(string)
	g := e.call1("AppPassword/get", map[string]any{"ids": nil, "properties": []string{"name"}})
	if obj := g["list"].([]any)[0].(map[string]any); len(obj) != 2 || obj["id"] != id || obj["name"] != "phone" {
		t.Errorf("AppPassword/get with properties [name]: %v", obj)
	}
	if typ := e.callErr("AppPassword/get", map[string]any{"properties": []string{"secret"}}); typ != "invalidArguments" {
		t.Errorf("AppPassword/get of the secret: %s, want invalidArguments", typ)
	}
	state := g["state"].(string)
	if ch := e.call1("AppPassword/changes", map[string]any{"sinceState": state}); ch["newState"] != state || len(ch["updated"].([]any))+len(ch["created"].([]any)) != 0 {
		t.Errorf("AppPassword/changes since the current state: %v", ch)
	}
	laptop := e.call1("AppPassword/set", map[string]any{"currentPassword": testPass, "destroy": []string{id},
		"create": map[string]any{"k": map[string]any{"name": "laptop"}}})
	laptopID := laptop["created"].(map[string]any)["k"].(map[string]any)["id"].(string)
	if s := e.call1("AppPassword/get", map[string]any{}); s["state"] == state || s["state"] != laptop["newState"] {
		t.Errorf("the AppPassword state after a creation and a destruction: %v, was %s, set said %v", s["state"], state, laptop["newState"])
	}
	ch := e.call1("AppPassword/changes", map[string]any{"sinceState": state})
	if fmt.Sprint(ch["created"], ch["updated"], ch["destroyed"]) != fmt.Sprintf("[%s] [] [%s]", laptopID, id) || ch["newState"] != laptop["newState"] {
		t.Errorf("AppPassword/changes since the state with phone: %v", ch)
	}
	// Since the beginning, one change at a time: laptop's creation comes
	// first, as phone's last change is its destruction.
	ch = e.call1("AppPassword/changes", map[string]any{"sinceState": "0", "maxChanges": 1})
	if fmt.Sprint(ch["created"], ch["destroyed"], ch["hasMoreChanges"]) != fmt.Sprintf("[%s] [] true", laptopID) {
		t.Errorf("AppPassword/changes since 0, one at a time: %v", ch)
	}
	for _, bad := range []string{"nonsense", "999"} {
		if typ := e.callErr("AppPassword/changes", map[string]any{"sinceState": bad}); typ != "cannotCalculateChanges" {
			t.Errorf("AppPassword/changes since %q: %s", bad, typ)
		}
	}

	r := e.call1("RemoteImages/get", map[string]any{"properties": []string{"id"}})
	if obj := r["list"].([]any)[0].(map[string]any); len(obj) != 1 || obj["id"] != "singleton" {
		t.Errorf("RemoteImages/get with properties [id]: %v", obj)
	}
	old := r["state"].(string)
	set := e.call1("RemoteImages/set", map[string]any{"update": map[string]any{"singleton": map[string]any{"allowedSenders/a@example.com": true}}})
	if set["newState"] == old {
		t.Error("the RemoteImages state did not change")
	}
	ch = e.call1("RemoteImages/changes", map[string]any{"sinceState": old})
	if ch["newState"] != set["newState"] || fmt.Sprint(ch["updated"]) != "[singleton]" {
		t.Errorf("RemoteImages/changes since the older state: %v", ch)
	}
	if ch := e.call1("RemoteImages/changes", map[string]any{"sinceState": set["newState"]}); len(ch["updated"].([]any)) != 0 {
		t.Errorf("RemoteImages/changes since the current state: %v", ch)
	}
	if typ := e.callErr("RemoteImages/changes", map[string]any{"sinceState": "nonsense"}); typ != "cannotCalculateChanges" {
		t.Errorf("RemoteImages/changes since a state never given: %s", typ)
	}
}

// A current password checked while the login throttle holds the account
// back is rateLimit, not forbidden: a client tells "try later" from
// "wrong password". Wrong guesses in one request are enough.
func TestPasswordCheckThrottled(t *testing.T) {
	e := newAccountEnv(t)
	e.srv.AuthLimit = limit.NewAuth(limit.AuthOptions{Free: 1, Base: 20 * time.Millisecond, Max: 10 * time.Second, MaxWait: 30 * time.Millisecond})
	var calls [][]any
	for i := range 8 {
		calls = append(calls, []any{"Password/change", map[string]any{"currentPassword": "not it", "newPassword": "a brand new password"}, fmt.Sprint(i)})
	}
	_, r := e.as(testPass, calls...)
	var types []string
	for _, resp := range r {
		if resp[0] == "error" {
			types = append(types, resp[1].(map[string]any)["type"].(string))
		}
	}
	if len(types) != 8 || types[0] != "forbidden" || types[7] != "rateLimit" {
		t.Errorf("eight wrong current passwords in a row: %v, want forbidden first and rateLimit last", types)
	}
}

// TestAccountPush checks that AppPassword and RemoteImages are push types
// (RFC 8620 section 7.1): an app password created by another client, or
// by the administrator's "casella account token add" straight in the
// directory, and an allowed sender set over IMAP METADATA as much as
// over JMAP, each push the new state of their type alone.
func TestAccountPush(t *testing.T) {
	e := newAccountEnv(t)
	events := pushEvents(t, e.testEnv, "AppPassword,RemoteImages")
	next := func(what string) map[string]string {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("%s: the stream ended", what)
			}
			var sc struct {
				Changed map[string]map[string]string `json:"changed"`
			}
			if err := json.Unmarshal([]byte(ev), &sc); err != nil {
				t.Fatalf("%s: %q: %v", what, ev, err)
			}
			return sc.Changed["A1"]
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: nothing pushed", what)
			return nil
		}
	}
	// The stream's states are read before its headers are sent, so it
	// is live once pushEvents returns. A delivery changes neither type:
	// nothing is pushed for it, and the token below is the first event.
	e.deliver("INBOX", simpleMsg)
	tk, _, err := e.srv.Tokens.(*sqlitedir.Dir).AddToken(t.Context(), 1, "cli", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	st := e.call1("AppPassword/get", map[string]any{"ids": []string{tk.ID}})["state"].(string)
	if got := next("a token added in the directory"); len(got) != 1 || got["AppPassword"] != st {
		t.Errorf("pushed %v, want AppPassword %s alone", got, st)
	}
	set := e.call1("RemoteImages/set", map[string]any{"update": map[string]any{"singleton": map[string]any{"allowedSenders/a@example.com": true}}})
	if got := next("RemoteImages/set"); len(got) != 1 || got["RemoteImages"] != set["newState"] {
		t.Errorf("pushed %v, want RemoteImages %v alone", got, set["newState"])
	}
	// Over IMAP METADATA the annotation is the store's: its change is
	// pushed too.
	if err := e.store.SetMetadata(t.Context(), 1, 0, []store.MetadataEntry{{Name: remoteImagesKey, Value: []byte(`{"b@example.com":true}`)}}); err != nil {
		t.Fatal(err)
	}
	st = e.call1("RemoteImages/get", map[string]any{})["state"].(string)
	if got := next("SETMETADATA"); len(got) != 1 || got["RemoteImages"] != st {
		t.Errorf("pushed %v, want RemoteImages %s alone", got, st)
	}
	del := e.call1("AppPassword/set", map[string]any{"destroy": []string{tk.ID}})
	if got := next("AppPassword/set destroy"); len(got) != 1 || got["AppPassword"] != del["newState"] {
		t.Errorf("pushed %v, want AppPassword %v alone", got, del["newState"])
	}
}
