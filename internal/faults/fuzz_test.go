package faults

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{"none", "error", "hang", "corrupt", "readonly", "nospace", " HANG ", "", "fault(3)", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, word string) {
		fault, err := Parse(word)
		if err != nil {
			return
		}
		again, err := Parse(fault.String())
		if err != nil || again != fault {
			t.Fatalf("Parse(%q) = %v, but its name parses to %v, %v", word, fault, again, err)
		}
	})
}

// FuzzHandler sends hostile requests: the handler answers 200 or 400 and
// leaves only valid state behind.
func FuzzHandler(f *testing.F) {
	f.Add("POST", "target=blob&fault=hang", "application/x-www-form-urlencoded", "")
	f.Add("POST", `{"target":"store","fault":"error"}`, "application/json", "")
	f.Add("DELETE", "", "", "target=store")
	f.Add("POST", "target=store&fault=corrupt", "application/x-www-form-urlencoded", "")
	f.Add("POST", `{"target":["blob"]}`, "application/json", "")
	f.Add("GET", "", "", "x=%zz")
	f.Fuzz(func(t *testing.T, method, body, contentType, query string) {
		if method != "GET" && method != "POST" && method != "DELETE" {
			method = "POST"
		}
		inj := New(nil)
		r := httptest.NewRequest(method, "/", strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		inj.ServeHTTP(w, r)
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Fatalf("status %d", w.Code)
		}
		for target, fault := range inj.State() {
			if fault < None || fault > NoSpace || (fault == Corrupt && target != TargetBlob) {
				t.Fatalf("state %s=%v after request", target, fault)
			}
		}
	})
}
