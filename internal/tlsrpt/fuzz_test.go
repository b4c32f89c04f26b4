package tlsrpt

import (
	"slices"
	"testing"
)

// FuzzReport feeds hostile TLS reports to their parser and the summary:
// no panic, a report taken has what RFC 8460 section 4.4 requires, and
// its counts add up to no negative number and no result type a sender
// made up.
func FuzzReport(f *testing.F) {
	f.Add([]byte(`{"organization-name":"o","date-range":{"start-datetime":"2026-12-01T00:00:00Z","end-datetime":"2026-12-02T00:00:00Z"},"report-id":"r","policies":[]}`))
	f.Add([]byte(`{"organization-name":"o","report-id":"r"}`))
	f.Add([]byte(`{"policies":[{"summary":{"total-failure-session-count":-1}}]}`))
	f.Add([]byte(`{"organization-name":"o","date-range":{"start-datetime":"2026-12-01T00:00:00Z"},"report-id":"r","policies":[{"summary":{"total-failure-session-count":9223372036854775807},"failure-details":[{"result-type":"made-up","failed-session-count":3}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := ParseReport(data)
		if err != nil {
			return
		}
		if rep.OrganizationName == "" || rep.ReportID == "" || rep.DateRange.Start.IsZero() {
			t.Fatalf("took %q", data)
		}
		var r Received
		for _, p := range rep.Policies {
			r.add(p)
		}
		sum := 0
		for typ, n := range r.Failures {
			if n < 0 || typ != "other" && typ != "unspecified" && !slices.Contains(resultTypes, typ) {
				t.Fatalf("failures %v from %q", r.Failures, data)
			}
			sum += n
		}
		if r.Success < 0 || r.Failure < 0 || sum < r.Failure {
			t.Fatalf("summary %+v from %q", r, data)
		}
	})
}
