package store

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCanonicalName checks that any name either is refused or comes back
// valid, stable, and equal to the input except for the INBOX prefix.
func FuzzCanonicalName(f *testing.F) {
	for _, s := range []string{"INBOX", "inbox/a", "a/b/c", "", "/", "a//b", "\xff", "Ünï/✉", "a*%", "inbox\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		c, err := CanonicalName(name)
		if err != nil {
			return
		}
		if !utf8.ValidString(c) || strings.Contains(c, Separator+Separator) || ValidName(c) != nil {
			t.Fatalf("CanonicalName(%q) = %q, not valid", name, c)
		}
		if again, err := CanonicalName(c); err != nil || again != c {
			t.Fatalf("not stable: %q -> %q -> %q, %v", name, c, again, err)
		}
		if !strings.EqualFold(c, name) {
			t.Fatalf("CanonicalName(%q) = %q changed more than case", name, c)
		}
		for _, p := range Parents(c) {
			if ValidName(p) != nil {
				t.Fatalf("parent %q of %q is invalid", p, c)
			}
		}
	})
}

// FuzzCanonicalFlags checks that accepted flags come back canonical and
// without duplicates.
func FuzzCanonicalFlags(f *testing.F) {
	f.Add(`\Seen`, "$Work")
	f.Add(`\recent`, `\bogus`)
	f.Add("a b", "A")
	f.Fuzz(func(t *testing.T, a, b string) {
		got, err := CanonicalFlags([]string{a, b, a})
		if err != nil {
			return
		}
		for i, f := range got {
			if strings.HasPrefix(f, `\`) {
				if _, ok := systemFlag(f); !ok {
					t.Fatalf("non-system backslash flag %q accepted", f)
				}
				if s, _ := systemFlag(f); s != f {
					t.Fatalf("system flag %q not canonical", f)
				}
			} else if validKeyword(f) != nil {
				t.Fatalf("invalid keyword %q accepted", f)
			}
			if HasFlag(got[:i], f) {
				t.Fatalf("duplicate %q in %q", f, got)
			}
		}
	})
}

// FuzzNormalizeUIDs checks that normalizing keeps exactly the same UIDs,
// in sorted, disjoint, non-adjacent ranges.
func FuzzNormalizeUIDs(f *testing.F) {
	f.Add(uint32(1), uint32(5), uint32(3), uint32(0), uint32(4))
	f.Add(uint32(0), uint32(0), uint32(math.MaxUint32), uint32(1), uint32(math.MaxUint32))
	f.Fuzz(func(t *testing.T, a, b, c, d, probe uint32) {
		in := []UIDRange{{a, b}, {c, d}}
		out := NormalizeUIDs(in)
		for i, r := range out {
			if r.First == 0 || r.First > r.Last {
				t.Fatalf("bad range %v in %v", r, out)
			}
			if i > 0 && uint64(out[i-1].Last)+1 >= uint64(r.First) {
				t.Fatalf("ranges not disjoint: %v", out)
			}
		}
		for _, uid := range []uint32{probe, a, b, c, d, a + 1, b - 1, 1} {
			if uid == 0 {
				continue
			}
			if ContainsUID(in, uid) != ContainsUID(out, uid) {
				t.Fatalf("uid %d: in %v %v, out %v %v", uid, in, ContainsUID(in, uid), out, ContainsUID(out, uid))
			}
		}
	})
}

// FuzzCanonicalMetadataName checks that an accepted annotation name comes
// back in lower case, stable, and within the rules of RFC 5464 section
// 3.2.
func FuzzCanonicalMetadataName(f *testing.F) {
	for _, s := range []string{"/private/comment", "/SHARED/Vendor/x", "/private/", "/shared//a", "/private/a*", "/x", "", "/private/\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		c, err := CanonicalMetadataName(name)
		if err != nil {
			return
		}
		if c != strings.ToLower(name) || !utf8.ValidString(c) || strings.Contains(c, "//") || strings.HasSuffix(c, "/") || strings.ContainsAny(c, "*%") ||
			!strings.HasPrefix(c, "/private/") && !strings.HasPrefix(c, "/shared/") || len(c) > MaxMetadataName {
			t.Fatalf("CanonicalMetadataName(%q) = %q, not valid", name, c)
		}
		if again, err := CanonicalMetadataName(c); err != nil || again != c {
			t.Fatalf("not stable: %q -> %q -> %q, %v", name, c, again, err)
		}
	})
}
