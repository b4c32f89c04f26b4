package drill

import (
	"slices"
	"testing"
)

func TestTally(t *testing.T) {
	sum := func(b byte) Sum { return Sum{b} }
	sent := []Sent{
		{sum(0), Accepted},
		{sum(1), Accepted},
		{sum(2), Accepted},
		{sum(3), Deferred},
		{sum(4), Rejected},
		{sum(5), Interrupted},
		{sum(6), Interrupted},
		{sum(7), Accepted},
		{sum(8), NotSent},
	}
	found := []Found{
		{0, sum(0)},
		{1, sum(1)}, {1, sum(1)}, // a duplicate
		{5, sum(5)},   // an interrupted one made it
		{7, sum(99)},  // bytes changed
		{3, sum(3)},   // deferred, yet delivered
		{8, sum(8)},   // never sent
		{42, sum(42)}, // beyond the run
	}
	got := Tally(sent, found)
	want := Counts{
		Sent: 8, Accepted: 4, Deferred: 1, Rejected: 1, Interrupted: 2,
		Delivered: 4, Duplicated: 1, Missing: 1, Mismatched: 1, Unexpected: 3,
	}
	if got != want {
		t.Fatalf("Tally =\n %+v\nwant\n %+v", got, want)
	}
	wantProblems := []string{
		"1 rejected with 5xx",
		"1 accepted but missing",
		"1 delivered more than once",
		"1 delivered with other bytes than sent",
		"3 delivered though refused or never sent",
	}
	if p := got.Problems(); !slices.Equal(p, wantProblems) {
		t.Fatalf("Problems = %q, want %q", p, wantProblems)
	}
}

func TestTallyClean(t *testing.T) {
	sent := []Sent{{Sum{1}, Accepted}, {Sum{2}, Accepted}, {Sum{3}, Interrupted}, {Sum{4}, Deferred}}
	found := []Found{{1, Sum{2}}, {0, Sum{1}}}
	got := Tally(sent, found)
	if got.Delivered != 2 || got.Accepted != 2 || got.Deferred != 1 || got.Interrupted != 1 {
		t.Fatalf("Tally = %+v", got)
	}
	if p := got.Problems(); len(p) != 0 {
		t.Fatalf("a clean run has problems: %q", p)
	}
}
