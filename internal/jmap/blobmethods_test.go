package jmap

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"casella/internal/blob"
)

func TestBlobUploadAndGet(t *testing.T) {
	e := newTestEnv(t)
	up := decode(t, e.do("POST", Prefix+"/upload/A1/", "Hello, world").Body)
	base := up["blobId"].(string)
	r := e.call1("Blob/upload", map[string]any{"create": map[string]any{
		"joined": map[string]any{"type": "text/plain", "data": []any{
			map[string]any{"data:asText": "Say: "},
			map[string]any{"blobId": base, "offset": 7, "length": 5},
			map[string]any{"data:asBase64": base64.StdEncoding.EncodeToString([]byte("!\xff"))},
		}},
		// Names a blob made by the same call, whichever runs first.
		"twice": map[string]any{"data": []any{map[string]any{"blobId": "#joined"}, map[string]any{"blobId": "#joined", "length": 3}}},
	}})
	created := r["created"].(map[string]any)
	joined := created["joined"].(map[string]any)
	if joined["size"].(float64) != 12 || joined["type"] != "text/plain" || created["twice"].(map[string]any)["size"].(float64) != 15 {
		t.Fatalf("Blob/upload: %v", r)
	}
	id := joined["id"].(string)
	want := []byte("Say: world!\xff")
	sum := sha256.Sum256(want)
	g := e.call1("Blob/get", map[string]any{"ids": []string{id, "nope"}, "properties": []string{"data", "data:asText", "size", "digest:sha-256", "digest:sha"}})
	o := g["list"].([]any)[0].(map[string]any)
	if o["data:asBase64"] != base64.StdEncoding.EncodeToString(want) || o["isEncodingProblem"] != true || o["data:asText"] != nil ||
		o["size"].(float64) != 12 || o["digest:sha-256"] != base64.StdEncoding.EncodeToString(sum[:]) || o["digest:sha"] == nil {
		t.Errorf("Blob/get: %v", o)
	}
	if nf := toStrings(g["notFound"]); len(nf) != 1 || nf[0] != "nope" {
		t.Errorf("Blob/get notFound: %v", g["notFound"])
	}
	g = e.call1("Blob/get", map[string]any{"ids": []string{id}, "properties": []string{"data:asText"}, "offset": 5, "length": 100})
	if o := g["list"].([]any)[0].(map[string]any); o["data:asText"] != nil || o["isTruncated"] != true {
		t.Errorf("Blob/get offset 5 length 100: %v", o)
	}
	g = e.call1("Blob/get", map[string]any{"ids": []string{id}, "properties": []string{"data"}, "offset": 5, "length": 5})
	if o := g["list"].([]any)[0].(map[string]any); o["data:asText"] != "world" || o["isTruncated"] != nil {
		t.Errorf("Blob/get offset 5 length 5: %v", o)
	}

	// Another node of the cluster, sharing the store and the blobs and
	// nothing else, reads the upload; another account does not.
	other := &Server{Store: e.store, Blobs: e.blobs, Auth: e.srv.Auth, Logger: e.srv.Logger}
	hs := httptest.NewServer(other)
	t.Cleanup(hs.Close)
	e2 := &testEnv{t: t, srv: other, http: hs, store: e.store, blobs: e.blobs}
	if g := e2.call1("Blob/get", map[string]any{"ids": []string{id}}); len(g["list"].([]any)) != 1 {
		t.Errorf("Blob/get on another node: %v", g)
	}
	if resp := e2.do("GET", Prefix+"/download/A1/"+base+"/x.txt", ""); resp.StatusCode != 200 {
		t.Errorf("download on another node: %s", resp.Status)
	}
	body, _ := json.Marshal(map[string]any{"using": using, "methodCalls": []any{[]any{"Blob/get", map[string]any{"accountId": "A2", "ids": []string{id, base}}, "c"}}})
	req := httptest.NewRequest("POST", Prefix+"/api", strings.NewReader(string(body)))
	req.SetBasicAuth("bob@example.org", "bob password")
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), `"notFound":["`+id+`","`+base+`"]`) {
		t.Errorf("bob reads alice's uploads: %s", rec.Body)
	}

	// An upload unreferenced for uploadLifetime is gone.
	marker := blob.KeyOf(uploadMarker(1, want))
	old := time.Now().Add(-uploadLifetime - time.Minute)
	path := filepath.Join(e.dir, "blobs", string(marker[0:2]), string(marker[2:4]), string(marker))
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	if g := e.call1("Blob/get", map[string]any{"ids": []string{id}}); len(g["notFound"].([]any)) != 1 {
		t.Errorf("Blob/get of an expired upload: %v", g)
	}
}

func TestBlobErrors(t *testing.T) {
	e := newTestEnv(t)
	many := make([]any, maxDataSources+1)
	for i := range many {
		many[i] = map[string]any{"data:asText": "x"}
	}
	r := e.call1("Blob/upload", map[string]any{"create": map[string]any{
		"a":       map[string]any{"data": []any{map[string]any{"blobId": "#b"}}},
		"b":       map[string]any{"data": []any{map[string]any{"blobId": "#a"}}},
		"missing": map[string]any{"data": []any{map[string]any{"blobId": strings.Repeat("0", 64)}}},
		"many":    map[string]any{"data": many},
		"both":    map[string]any{"data": []any{map[string]any{"data:asText": "x", "data:asBase64": "eA=="}}},
		"bad64":   map[string]any{"data": []any{map[string]any{"data:asBase64": "!!"}}},
		"range":   map[string]any{"data": []any{map[string]any{"blobId": "#ok", "offset": 1, "length": 5}}},
		"ok":      map[string]any{"data": []any{map[string]any{"data:asText": "ab"}}},
		"bogus":   map[string]any{"data": []any{}, "nope": 1},
	}})
	want := map[string]string{"a": "invalidProperties", "b": "invalidProperties", "missing": "blobNotFound", "many": "tooLarge",
		"both": "invalidProperties", "bad64": "invalidProperties", "range": "invalidProperties", "bogus": "invalidProperties"}
	nc := r["notCreated"].(map[string]any)
	for cid, typ := range want {
		if got, _ := nc[cid].(map[string]any); got == nil || got["type"] != typ {
			t.Errorf("%s: %v, want %s", cid, nc[cid], typ)
		}
	}
	if len(r["created"].(map[string]any)) != 1 {
		t.Errorf("created: %v", r["created"])
	}
	for _, tc := range []struct {
		name string
		args map[string]any
		typ  string
	}{
		{"Blob/get", map[string]any{}, "invalidArguments"},
		{"Blob/get", map[string]any{"ids": []string{}, "properties": []string{"digest:md5"}}, "invalidArguments"},
		{"Blob/get", map[string]any{"ids": []string{}, "offset": -1}, "invalidArguments"},
		{"Blob/get", map[string]any{"ids": make([]string, maxObjectsInGet+1)}, "requestTooLarge"},
		{"Blob/lookup", map[string]any{"typeNames": []string{"Calendar"}, "ids": []string{}}, "unknownDataType"},
		{"Blob/upload", map[string]any{"create": 1}, "invalidArguments"},
	} {
		if got := e.callErr(tc.name, tc.args); got != tc.typ {
			t.Errorf("%s %v: %s, want %s", tc.name, tc.args, got, tc.typ)
		}
	}
}

func TestBlobLookup(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	got := e.call1("Email/get", map[string]any{"properties": []string{"blobId", "threadId", "mailboxIds"}})["list"].([]any)[0].(map[string]any)
	key := got["blobId"].(string)
	r := e.call1("Blob/lookup", map[string]any{"typeNames": []string{"Email", "Mailbox", "Thread"}, "ids": []string{key, key + "_1", strings.Repeat("1", 64)}})
	list := r["list"].([]any)
	if len(list) != 2 || len(r["notFound"].([]any)) != 1 {
		t.Fatalf("Blob/lookup: %v", r)
	}
	for _, it := range list {
		m := it.(map[string]any)["matchedIds"].(map[string]any)
		if toStrings(m["Email"])[0] != got["id"] || toStrings(m["Thread"])[0] != got["threadId"] || toStrings(m["Mailbox"])[0] != e.mailboxID("INBOX") {
			t.Errorf("Blob/lookup %v: %v", it, m)
		}
	}
}
