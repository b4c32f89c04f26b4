package jmap

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"casella/internal/blob/fs"
	"casella/internal/directory"
	"casella/internal/directory/sqlitedir"
	"casella/internal/limit"
	"casella/internal/message"
	"casella/internal/store"
	"casella/internal/store/sqlite"
)

// testAuth is a fixed set of logins standing in for the directory.
type testAuth map[string]struct {
	password string
	id       store.Account
}

func (a testAuth) Authenticate(ctx context.Context, address, password string) (directory.Account, error) {
	u, ok := a[address]
	if !ok || u.password != password {
		return directory.Account{}, directory.ErrBadCredentials
	}
	return directory.Account{ID: u.id, Address: address, Quota: 1 << 30}, nil
}

// Resolve resolves the test logins' addresses: example.org is local,
// every other domain is not.
func (a testAuth) Resolve(ctx context.Context, address string) ([]directory.Recipient, error) {
	if !strings.HasSuffix(address, "@example.org") {
		return nil, directory.ErrNotLocal
	}
	u, ok := a[address]
	if !ok {
		return nil, directory.ErrNoSuchUser
	}
	return []directory.Recipient{{Account: directory.Account{ID: u.id, Address: address}}}, nil
}

const (
	testUser = "alice@example.org"
	testPass = "secret password"
)

// testEnv is a JMAP server on loopback over a real SQLite store and blob
// directory.
type testEnv struct {
	t     testing.TB
	srv   *Server
	http  *httptest.Server
	store *sqlite.Store
	blobs *fs.Store
	dir   string
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := fs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	// The directory keeps the Sieve scripts, of accounts 1 and 2 as
	// testAuth numbers them.
	scripts, err := sqlitedir.Open(filepath.Join(dir, "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { scripts.Close() })
	ctx := context.Background()
	if _, err := scripts.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{testUser, "bob@example.org"} {
		if _, err := scripts.AddAccount(ctx, a, "unused-password", 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	srv := &Server{
		Store: st, Blobs: blobs, Sieve: scripts,
		Auth:      testAuth{testUser: {testPass, 1}, "bob@example.org": {"bob password", 2}},
		AuthLimit: limit.NewAuth(limit.AuthOptions{}),
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &testEnv{t: t, srv: srv, http: hs, store: st, blobs: blobs, dir: dir}
}

// do sends an HTTP request with alice's credentials.
func (e *testEnv) do(method, path, body string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.http.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.SetBasicAuth(testUser, testPass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decode(t testing.TB, r io.Reader) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		t.Fatalf("decoding response: %v", err)
	}
	return m
}

var using = []string{capCore, capMail, capSubmission, capQuota, capVacation, capBlob, capSieve, capAccount}

// api sends method calls and returns the responses.
func (e *testEnv) api(calls ...[]any) [][]any {
	e.t.Helper()
	b, _ := json.Marshal(map[string]any{"using": using, "methodCalls": calls})
	resp := e.do("POST", Prefix+"/api", string(b))
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("api: %s: %s", resp.Status, body)
	}
	var out struct {
		MethodResponses [][]any `json:"methodResponses"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatal(err)
	}
	return out.MethodResponses
}

// call1 sends one call and returns its response arguments, failing on a
// method error.
func (e *testEnv) call1(name string, args map[string]any) map[string]any {
	e.t.Helper()
	r := e.api([]any{name, args, "c"})
	if r[0][0] != name {
		e.t.Fatalf("%s: %v", name, r[0][1])
	}
	return r[0][1].(map[string]any)
}

// callErr sends one call and returns the method error type.
func (e *testEnv) callErr(name string, args map[string]any) string {
	e.t.Helper()
	r := e.api([]any{name, args, "c"})
	if r[0][0] != "error" {
		e.t.Fatalf("%s: want an error, got %v", name, r[0][1])
	}
	return r[0][1].(map[string]any)["type"].(string)
}

// deliver stores a message in alice's mailbox as the delivery loop does.
func (e *testEnv) deliver(mailbox, raw string) {
	e.t.Helper()
	ctx := context.Background()
	data := []byte(strings.ReplaceAll(raw, "\n", "\r\n"))
	key, err := e.blobs.Put(ctx, data)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.EnsureAccount(ctx, 1); err != nil {
		e.t.Fatal(err)
	}
	_, err = e.store.Deliver(ctx, store.Delivery{Key: string(key) + mailbox, Account: 1, Mailbox: mailbox,
		Message: store.NewMessage{Blob: key, Size: int64(len(data)), Meta: message.Parse(data)}})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) mailboxID(name string) string {
	e.t.Helper()
	mb, err := e.store.Mailbox(context.Background(), 1, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return mailboxID(mb.ID)
}

const simpleMsg = `From: Bob <bob@example.org>
To: Alice <alice@example.org>, undisclosed:;
Subject: Hello there
Date: Mon, 2 Mar 2026 10:00:00 +0000
Message-ID: <m1@example.org>
List-Post: <mailto:list@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Hi Alice, the caf=C3=A9 is open.
`

const multipartMsg = `From: carol@example.org
To: alice@example.org
Subject: Report
Message-ID: <m2@example.org>
In-Reply-To: <m1@example.org>
References: <m1@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=b1

--b1
Content-Type: multipart/alternative; boundary=b2

--b2
Content-Type: text/plain; charset=utf-8

plain body text
--b2
Content-Type: text/html; charset=utf-8

<p>html body text</p>
--b2--
--b1
Content-Type: application/pdf; name=report.pdf
Content-Disposition: attachment; filename=report.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--b1--
`

func TestSession(t *testing.T) {
	e := newTestEnv(t)
	resp := e.do("GET", "/.well-known/jmap", "")
	if resp.StatusCode != 200 {
		t.Fatalf("session: %s", resp.Status)
	}
	s := decode(t, resp.Body)
	core := s["capabilities"].(map[string]any)[capCore].(map[string]any)
	if core["maxCallsInRequest"].(float64) != maxCallsInRequest {
		t.Errorf("core capability: %v", core)
	}
	if s["primaryAccounts"].(map[string]any)[capMail] != "A1" {
		t.Errorf("primaryAccounts: %v", s["primaryAccounts"])
	}
	for _, k := range []string{"apiUrl", "downloadUrl", "uploadUrl", "eventSourceUrl", "state"} {
		if v, _ := s[k].(string); v == "" {
			t.Errorf("session has no %s", k)
		}
	}
	if !strings.HasPrefix(s["apiUrl"].(string), e.http.URL) {
		t.Errorf("apiUrl %v is not absolute on %s", s["apiUrl"], e.http.URL)
	}
}

func TestAuthFailureThrottled(t *testing.T) {
	e := newTestEnv(t)
	e.srv.AuthLimit = limit.NewAuth(limit.AuthOptions{Free: 1, NetworkFree: 1, Base: time.Hour, MaxWait: time.Millisecond})
	get := func(user, pass string) *http.Response {
		req, _ := http.NewRequest("GET", e.http.URL+"/.well-known/jmap", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := get("", ""); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no credentials: %s %v", resp.Status, resp.Header)
	}
	if resp := get(testUser, "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad password: %s", resp.Status)
	}
	// The throttle IMAP shares now holds the guesser back, right
	// password or not, without checking it.
	throttled := false
	for range 3 {
		if get(testUser, "wrong again").StatusCode == http.StatusTooManyRequests {
			throttled = true
			break
		}
	}
	if !throttled {
		t.Fatal("repeated failures were not throttled")
	}
	if resp := get(testUser, testPass); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a throttled address logged in: %s", resp.Status)
	}
}

func TestRequestErrors(t *testing.T) {
	e := newTestEnv(t)
	for _, tc := range []struct{ body, typ string }{
		{`{"using":`, errNotJSON},
		{`{"using":"x","methodCalls":[]}`, errNotRequest},
		{`{"methodCalls":[]}`, errNotRequest},
		{`{"using":[],"methodCalls":[["Core/echo",[],"a"]]}`, errNotRequest},
		{`{"using":["urn:example:nope"],"methodCalls":[]}`, errUnknownCapability},
		{`{"using":[],"methodCalls":[` + strings.Repeat(`["Core/echo",{},"a"],`, maxCallsInRequest) + `["Core/echo",{},"a"]]}`, errLimit},
	} {
		resp := e.do("POST", Prefix+"/api", tc.body)
		if resp.StatusCode != 400 {
			t.Errorf("%.40s: status %s", tc.body, resp.Status)
			continue
		}
		if got := decode(t, resp.Body)["type"]; got != tc.typ {
			t.Errorf("%.40s: type %v, want %s", tc.body, got, tc.typ)
		}
	}
	resp := e.do("POST", Prefix+"/api", `{"using":[],"methodCalls":[],"x":"`+strings.Repeat("a", maxSizeRequest)+`"}`)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized request: %s", resp.Status)
	}
}

func TestMethodErrors(t *testing.T) {
	e := newTestEnv(t)
	for _, tc := range []struct {
		name string
		args map[string]any
		typ  string
	}{
		{"Nope/get", map[string]any{}, "unknownMethod"},
		{"Mailbox/get", map[string]any{"accountId": "A2"}, "accountNotFound"},
		{"Mailbox/get", map[string]any{"ids": "x"}, "invalidArguments"},
		{"Mailbox/get", map[string]any{"bogus": 1}, "invalidArguments"},
		{"Mailbox/get", map[string]any{"properties": []string{"nope"}}, "invalidArguments"},
		{"Email/query", map[string]any{"filter": map[string]any{"nope": 1}}, "unsupportedFilter"},
		{"Email/query", map[string]any{"sort": []any{map[string]any{"property": "nope"}}}, "unsupportedSort"},
		{"Email/changes", map[string]any{"sinceState": "x"}, "cannotCalculateChanges"},
		{"Email/changes", map[string]any{"sinceState": "99999"}, "cannotCalculateChanges"},
		{"Email/set", map[string]any{"ifInState": "77"}, "stateMismatch"},
		{"Email/get", map[string]any{"ids": make([]string, maxObjectsInGet+1)}, "requestTooLarge"},
		{"Email/queryChanges", map[string]any{"sinceQueryState": "x"}, "cannotCalculateChanges"},
		{"Email/queryChanges", map[string]any{"sinceQueryState": "99999"}, "cannotCalculateChanges"},
		{"Email/queryChanges", map[string]any{"sinceQueryState": "1", "maxChanges": 0}, "invalidArguments"},
		{"Email/queryChanges", map[string]any{"sinceQueryState": "1", "filter": map[string]any{"nope": 1}}, "unsupportedFilter"},
		{"Email/queryChanges", map[string]any{"sinceQueryState": "1", "sort": []any{map[string]any{"property": "nope"}}}, "unsupportedSort"},
		{"Mailbox/queryChanges", map[string]any{"sinceQueryState": "x"}, "cannotCalculateChanges"},
		{"Mailbox/queryChanges", map[string]any{"sinceQueryState": "1", "bogus": 1}, "invalidArguments"},
		{"Email/query", map[string]any{"anchor": "E999"}, "anchorNotFound"},
	} {
		if got := e.callErr(tc.name, tc.args); got != tc.typ {
			t.Errorf("%s %v: %s, want %s", tc.name, tc.args, got, tc.typ)
		}
	}
	// A method outside the capabilities in using is unknown.
	b := `{"using":["` + capCore + `"],"methodCalls":[["Mailbox/get",{},"a"]]}`
	m := decode(t, e.do("POST", Prefix+"/api", b).Body)
	if r := m["methodResponses"].([]any)[0].([]any); r[1].(map[string]any)["type"] != "unknownMethod" {
		t.Errorf("method without its capability: %v", r)
	}
}

func TestEchoAndReferences(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	r := e.api(
		[]any{"Core/echo", map[string]any{"hello": true}, "e"},
		[]any{"Email/query", map[string]any{}, "q"},
		[]any{"Email/get", map[string]any{"#ids": map[string]any{"resultOf": "q", "name": "Email/query", "path": "/ids"}, "properties": []string{"threadId"}}, "g"},
		[]any{"Thread/get", map[string]any{"#ids": map[string]any{"resultOf": "g", "name": "Email/get", "path": "/list/*/threadId"}}, "t"},
		[]any{"Email/get", map[string]any{"#ids": map[string]any{"resultOf": "nope", "name": "Email/query", "path": "/ids"}}, "bad1"},
		[]any{"Email/get", map[string]any{"#ids": map[string]any{"resultOf": "q", "name": "Email/get", "path": "/ids"}}, "bad2"},
		[]any{"Email/get", map[string]any{"#ids": map[string]any{"resultOf": "q", "name": "Email/query", "path": "/nope"}}, "bad3"},
		[]any{"Email/get", map[string]any{"ids": []string{}, "#ids": map[string]any{"resultOf": "q", "name": "Email/query", "path": "/ids"}}, "bad4"},
	)
	if r[0][0] != "Core/echo" || r[0][1].(map[string]any)["hello"] != true {
		t.Errorf("echo: %v", r[0])
	}
	if list := r[2][1].(map[string]any)["list"].([]any); len(list) != 1 {
		t.Fatalf("Email/get by reference: %v", r[2])
	}
	tl := r[3][1].(map[string]any)["list"].([]any)
	if len(tl) != 1 || len(tl[0].(map[string]any)["emailIds"].([]any)) != 1 {
		t.Errorf("Thread/get by reference: %v", r[3])
	}
	for i, want := range []string{"invalidResultReference", "invalidResultReference", "invalidResultReference", "invalidArguments"} {
		got := r[4+i]
		if got[0] != "error" || got[1].(map[string]any)["type"] != want {
			t.Errorf("%s: %v, want %s", got[2], got[1], want)
		}
	}
}

func TestConcurrencyLimits(t *testing.T) {
	e := newTestEnv(t)
	for range maxConcurrentRequests {
		e.srv.enter(1)
	}
	resp := e.do("POST", Prefix+"/api", `{"using":[],"methodCalls":[]}`)
	if m := decode(t, resp.Body); resp.StatusCode != http.StatusTooManyRequests || m["type"] != errLimit || m["limit"] != "maxConcurrentRequests" {
		t.Errorf("request over maxConcurrentRequests: %s %v", resp.Status, m)
	}
	e.srv.leave(1)
	if resp := e.do("POST", Prefix+"/api", `{"using":[],"methodCalls":[]}`); resp.StatusCode != 200 {
		t.Errorf("request under the limit: %s", resp.Status)
	}
	for range maxConcurrentUpload {
		e.srv.uploads.begin(1)
	}
	resp = e.do("POST", Prefix+"/upload/A1/", "x")
	if m := decode(t, resp.Body); resp.StatusCode != http.StatusTooManyRequests || m["limit"] != "maxConcurrentUpload" {
		t.Errorf("upload over maxConcurrentUpload: %s %v", resp.Status, m)
	}
}
