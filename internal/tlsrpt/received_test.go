package tlsrpt

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// report returns a report of org with one policy result for each of
// domains: success and failure sessions, the failures detailed as fails.
func report(t testing.TB, org, id string, success, failure int, fails map[string]int, domains ...string) []byte {
	t.Helper()
	rep := Report{OrganizationName: org, ReportID: id,
		DateRange: DateRange{Start: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}}
	for _, d := range domains {
		var p PolicyResult
		p.Policy.Type, p.Policy.Domain = PolicySTS, d
		p.Summary.Success, p.Summary.Failure = success, failure
		for typ, n := range fails {
			p.Failures = append(p.Failures, FailureDetails{ResultType: typ, ReceivingMXHost: "mx.example.test", FailedSessionCount: n})
		}
		rep.Policies = append(rep.Policies, p)
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// The summary counts, per reporting organization and policy domain, the
// sessions of the reports kept in the last day; it shows a new report at
// once, skips older ones and names an unreadable one.
func TestInboxSummary(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	in := &Inbox{Dir: t.TempDir(), Now: func() time.Time { return now }}
	if sum, err := in.Summary(); err != nil || len(sum) != 0 {
		t.Fatalf("empty inbox: %v, %v", sum, err)
	}
	keep := func(domain string, data []byte) {
		t.Helper()
		if err := in.Keep(domain, data); err != nil {
			t.Fatal(err)
		}
	}
	keep("example.test", report(t, "Big Mail", "r1", 100, 0, nil, "example.test"))
	keep("example.test", report(t, "Big Mail", "r1", 100, 0, nil, "example.test")) // posted twice, kept once
	keep("example.test", report(t, "Small ISP", "s1", 7, 5, map[string]int{"certificate-expired": 3, "made-up": 1}, "example.test"))
	keep("other.test", report(t, "Big Mail", "r2", 40, 1, map[string]int{"sts-policy-fetch-error": 1}, "other.test"))
	// A week-old report is not the last day's.
	old := report(t, "Big Mail", "r0", 0, 99, nil, "example.test")
	keep("example.test", old)
	files, _ := filepath.Glob(filepath.Join(in.Dir, "example.test", "*.json"))
	for _, f := range files {
		if data, _ := os.ReadFile(f); string(data) == string(old) {
			os.Chtimes(f, now.Add(-7*24*time.Hour), now.Add(-7*24*time.Hour))
		}
	}
	// The reads are cached; Keep makes the next one read again.
	sum, err := in.Summary()
	if err != nil {
		t.Fatal(err)
	}
	want := []Received{
		{Organization: "Small ISP", Domain: "example.test", Reports: 1, Success: 7, Failure: 5,
			Failures: map[string]int{"certificate-expired": 3, "other": 1, "unspecified": 1}},
		{Organization: "Big Mail", Domain: "other.test", Reports: 1, Success: 40, Failure: 1, Failures: map[string]int{"sts-policy-fetch-error": 1}},
		{Organization: "Big Mail", Domain: "example.test", Reports: 1, Success: 100},
	}
	if !reflect.DeepEqual(sum, want) {
		t.Fatalf("summary\n%+v\nwant\n%+v", sum, want)
	}

	if err := os.WriteFile(filepath.Join(in.Dir, "other.test", "20261202-broken.json"), []byte("{"), 0o640); err != nil {
		t.Fatal(err)
	}
	if sum, err := in.Summary(); err != nil || len(sum) != 3 {
		t.Fatalf("within a minute the summary is reused: %v, %v", sum, err)
	}
	now = now.Add(2 * time.Minute)
	sum, err = in.Summary()
	if len(sum) != 3 || err == nil || !strings.Contains(err.Error(), "broken.json") {
		t.Fatalf("with an unreadable report: %d entries, %v", len(sum), err)
	}
}
