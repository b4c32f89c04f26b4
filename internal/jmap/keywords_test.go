package jmap

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// Keywords patched one path at a time by clients at once are all kept:
// each patch adds or removes its keywords, rather than writing back the
// whole set it read (which lost the other client's change).
func TestConcurrentKeywordPatches(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	q := e.call1("Email/query", map[string]any{})
	id := q["ids"].([]any)[0].(string)
	e.call1("Email/set", map[string]any{"update": map[string]any{id: map[string]any{"keywords/$seen": true}}})

	const writers, rounds = maxConcurrentRequests, 6
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				patch := map[string]any{fmt.Sprintf("keywords/k%d-%d", w, r): true}
				if w == 0 && r == 0 {
					patch["keywords/$seen"] = nil
				}
				b, _ := json.Marshal(map[string]any{"using": using, "methodCalls": []any{[]any{"Email/set", map[string]any{"update": map[string]any{id: patch}}, "s"}}})
				req, _ := http.NewRequest("POST", e.http.URL+Prefix+"/api", strings.NewReader(string(b)))
				req.SetBasicAuth(testUser, testPass)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				var out struct {
					MethodResponses [][]any `json:"methodResponses"`
				}
				json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if resp.StatusCode != 200 || len(out.MethodResponses) != 1 || out.MethodResponses[0][1].(map[string]any)["updated"] == nil {
					t.Errorf("writer %d round %d: %s %v", w, r, resp.Status, out.MethodResponses)
				}
			}
		})
	}
	wg.Wait()
	g := e.call1("Email/get", map[string]any{"ids": []string{id}, "properties": []string{"keywords"}})
	kw := g["list"].([]any)[0].(map[string]any)["keywords"].(map[string]any)
	if len(kw) != writers*rounds || kw["$seen"] != nil {
		t.Errorf("%d keywords after %d patches, $seen %v: %v", len(kw), writers*rounds, kw["$seen"], kw)
	}
}
