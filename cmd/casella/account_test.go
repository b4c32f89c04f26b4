package main

import "testing"

func TestChooseCell(t *testing.T) {
	for _, tc := range []struct {
		counts     map[string]int
		configured []string
		want       string
	}{
		{nil, nil, ""},
		{map[string]int{"": 5}, nil, ""},
		{nil, []string{"a", "b"}, "a"},
		{map[string]int{"a": 3, "b": 2, "c": 2}, []string{"a", "b", "c"}, "b"},
		{map[string]int{"a": 3, "b": 2}, []string{"a", "b", "c"}, "c"},
		// A cell that left the configuration gets no new accounts, and
		// embedded mode's accounts (cell "") count for no cell.
		{map[string]int{"a": 1, "gone": 0, "": 0}, []string{"a"}, "a"},
	} {
		if got := chooseCell(tc.counts, tc.configured); got != tc.want {
			t.Errorf("chooseCell(%v, %q) = %q, want %q", tc.counts, tc.configured, got, tc.want)
		}
	}
}
