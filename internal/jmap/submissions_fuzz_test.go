package jmap

import (
	"encoding/json"
	"testing"
	"time"

	"casella/internal/directory"
)

// FuzzSubmissionFilter feeds EmailSubmission/query filters: a filter is
// accepted or refused with unsupportedFilter, and an accepted one
// evaluates without failing.
func FuzzSubmissionFilter(f *testing.F) {
	for _, s := range []string{
		`{"undoStatus":"pending"}`, `{"operator":"NOT","conditions":[{"emailIds":["E1"]},{"after":"2026-01-01T00:00:00Z"}]}`,
		`{"identityIds":[],"threadIds":["T1"],"before":"2026-01-01T00:00:00Z"}`, `{"operator":"XOR"}`, `{"subject":"x"}`,
		`{"conditions":[{}]}`, `null`, `[]`, `{"before":"tomorrow"}`,
	} {
		f.Add(s)
	}
	sub := directory.Submission{ID: "S1", IdentityID: "I1", EmailID: "E1", ThreadID: "T1", SendAt: time.Unix(1_780_000_000, 0), UndoStatus: "final"}
	f.Fuzz(func(t *testing.T, in string) {
		if !json.Valid([]byte(in)) {
			return
		}
		flt, err := parseSubmissionFilter(json.RawMessage(in))
		if err != nil {
			if me, ok := err.(*methodError); !ok || me.Type != "unsupportedFilter" {
				t.Fatalf("filter %s: error %v, want unsupportedFilter", in, err)
			}
			return
		}
		if flt != nil {
			flt.match(sub)
		}
	})
}
