package store

import (
	"errors"
	"slices"
	"testing"
)

func TestCanonicalName(t *testing.T) {
	good := map[string]string{
		"INBOX": "INBOX", "inbox": "INBOX", "InBoX/a/b": "INBOX/a/b", "Inboxes": "Inboxes",
		"a/inbox": "a/inbox", "Ünïcode ✉": "Ünïcode ✉", "a b/c": "a b/c",
	}
	for in, want := range good {
		got, err := CanonicalName(in)
		if err != nil || got != want {
			t.Errorf("CanonicalName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "/", "/a", "a/", "a//b", "a\x00", "a\r\nb", "\x7f", "a\u0080", "\xff", "a*", "%", string(make([]byte, MaxNameLen+1))} {
		if _, err := CanonicalName(in); !errors.Is(err, ErrInvalidName) {
			t.Errorf("CanonicalName(%q): %v, want ErrInvalidName", in, err)
		}
	}
}

func TestParents(t *testing.T) {
	if got := Parents("a/b/c"); !slices.Equal(got, []string{"a", "a/b"}) {
		t.Errorf("Parents(a/b/c) = %q", got)
	}
	if got := Parents("a"); got != nil {
		t.Errorf("Parents(a) = %q", got)
	}
}

func TestCanonicalFlags(t *testing.T) {
	got, err := CanonicalFlags([]string{`\seen`, "$Work", `\SEEN`, "$work", `\Recent`, `\draft`, "x"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{FlagSeen, "$Work", FlagDraft, "x"}; !slices.Equal(got, want) {
		t.Errorf("CanonicalFlags = %q, want %q", got, want)
	}
	for _, bad := range []string{`\Bogus`, "", "a b", "a(", "a)", "a{", "a%", "a*", `a"`, `a\`, "a]", "é", "\x01", string(make([]byte, MaxKeywordLen+1))} {
		if _, err := CanonicalFlags([]string{bad}); !errors.Is(err, ErrInvalidFlag) {
			t.Errorf("CanonicalFlags(%q): %v, want ErrInvalidFlag", bad, err)
		}
	}
}

func TestNormalizeUIDs(t *testing.T) {
	const end = 1<<32 - 1
	cases := []struct{ in, want []UIDRange }{
		{nil, nil},
		{[]UIDRange{}, []UIDRange{}},
		{[]UIDRange{{5, 3}}, []UIDRange{{3, 5}}},
		{[]UIDRange{{0, 0}}, []UIDRange{{1, end}}},
		{[]UIDRange{{7, 9}, {1, 2}, {3, 4}, {8, 20}}, []UIDRange{{1, 4}, {7, 20}}},
		{[]UIDRange{{10, 0}, {20, 30}, {1, 1}}, []UIDRange{{1, 1}, {10, end}}},
		{[]UIDRange{{end, end}, {end - 1, end - 1}}, []UIDRange{{end - 1, end}}},
	}
	for _, c := range cases {
		if got := NormalizeUIDs(c.in); !slices.Equal(got, c.want) || (got == nil) != (c.want == nil) {
			t.Errorf("NormalizeUIDs(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestContainsUID(t *testing.T) {
	r := []UIDRange{{5, 3}, {10, 0}}
	for uid, want := range map[uint32]bool{1: false, 3: true, 5: true, 6: false, 10: true, 1<<32 - 1: true} {
		if got := ContainsUID(r, uid); got != want {
			t.Errorf("ContainsUID(%v, %d) = %v", r, uid, got)
		}
	}
	if !ContainsUID(nil, 42) || ContainsUID([]UIDRange{}, 42) {
		t.Errorf("nil must contain every UID, empty none")
	}
}
