package faults

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func do(t *testing.T, method, u, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func state(t *testing.T, body string) map[string]Fault {
	t.Helper()
	var st map[string]Fault
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("response %q is not a state: %v", body, err)
	}
	return st
}

func TestHandler(t *testing.T) {
	inj := New(nil)
	srv := httptest.NewServer(inj)
	defer srv.Close()
	form := "application/x-www-form-urlencoded"

	code, body := do(t, "GET", srv.URL, "", "")
	if code != 200 || state(t, body)[TargetStore] != None {
		t.Fatalf("GET = %d %s", code, body)
	}

	code, body = do(t, "POST", srv.URL, form, url.Values{"target": {"blob"}, "fault": {"hang"}}.Encode())
	if code != 200 || state(t, body)[TargetBlob] != Hang || inj.Current(TargetBlob) != Hang {
		t.Fatalf("POST form = %d %s", code, body)
	}
	code, body = do(t, "POST", srv.URL+"?target=store&fault=nospace", "", "")
	if code != 200 || inj.Current(TargetStore) != NoSpace {
		t.Fatalf("POST query = %d %s", code, body)
	}
	code, body = do(t, "POST", srv.URL, "application/json; charset=utf-8", `{"target":"blob","fault":"corrupt"}`)
	if code != 200 || inj.Current(TargetBlob) != Corrupt {
		t.Fatalf("POST JSON = %d %s", code, body)
	}

	code, body = do(t, "DELETE", srv.URL+"?target=blob", "", "")
	if code != 200 || inj.Current(TargetBlob) != None || inj.Current(TargetStore) != NoSpace {
		t.Fatalf("DELETE one target = %d %s", code, body)
	}
	code, body = do(t, "DELETE", srv.URL, "", "")
	if st := state(t, body); code != 200 || st[TargetStore] != None {
		t.Fatalf("DELETE = %d %s", code, body)
	}

	bad := []struct{ method, query, ct, body string }{
		{"POST", "?target=disk&fault=error", "", ""},
		{"POST", "?target=blob&fault=melt", "", ""},
		{"POST", "?target=store&fault=corrupt", "", ""},
		{"POST", "?target=blob", "", ""},
		{"POST", "", "application/json", `{"target":"blob","fault":"hang","extra":1}`},
		{"POST", "", "application/json", `{"target":`},
		{"POST", "", form, "target=blob&fault=" + strings.Repeat("x", 2*maxRequest)},
		{"DELETE", "?target=nope", "", ""},
	}
	for _, b := range bad {
		if code, body := do(t, b.method, srv.URL+b.query, b.ct, b.body); code != 400 {
			t.Fatalf("%s %s %q = %d %s, want 400", b.method, b.query, b.body, code, body)
		}
	}
	if code, _ := do(t, "PUT", srv.URL, "", ""); code != 405 {
		t.Fatalf("PUT = %d, want 405", code)
	}
	if st := inj.State(); st[TargetBlob] != None || st[TargetStore] != None {
		t.Fatalf("rejected requests changed the state: %v", st)
	}
}
