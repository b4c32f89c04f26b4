package cell

import "testing"

func TestForNewAccount(t *testing.T) {
	r := New(nil, []Spec{{Name: "b"}, {Name: "a"}, {Name: "c"}}, Options{})
	for _, tc := range []struct {
		counts map[string]int
		want   string
	}{
		{nil, "a"},
		{map[string]int{"a": 3, "b": 2, "c": 2}, "b"},
		{map[string]int{"a": 1, "b": 1}, "c"},
		// Counts of cells this node does not know do not matter.
		{map[string]int{"a": 1, "b": 1, "c": 1, "x": 0}, "a"},
	} {
		if got := r.ForNewAccount(tc.counts); got != tc.want {
			t.Errorf("ForNewAccount(%v) = %q, want %q", tc.counts, got, tc.want)
		}
	}
}
