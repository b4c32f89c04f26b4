package directory

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{
		"User@Example.COM", "a+b@c.d", `"x@y"@z`, "@", "a@", "@b", "ü@xn--bcher-kva.example",
		"a\x00@b", strings.Repeat("a", 70) + "@b", "a@b..c", "a@-b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Canonical(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Canonical(%q): error %v does not wrap ErrInvalid", in, err)
			}
			return
		}
		if len(c) > MaxAddressLength || !utf8.ValidString(c) {
			t.Fatalf("Canonical(%q) = %q: too long or not UTF-8", in, c)
		}
		again, err := Canonical(c)
		if err != nil || again != c {
			t.Fatalf("Canonical is not idempotent: %q -> %q -> %q, %v", in, c, again, err)
		}
		if DomainOf(c) != strings.ToLower(DomainOf(c)) {
			t.Fatalf("domain of %q not lower-case", c)
		}
		local := c[:len(c)-len(DomainOf(c))-1]
		base, tag := SplitSubaddress(local)
		if tag != "" && base+"+"+tag != local {
			t.Fatalf("SplitSubaddress(%q) = %q, %q", local, base, tag)
		}
	})
}

// FuzzParseHash checks that hostile stored hashes never panic and that
// whatever parses stays within the bounds that keep a login cheap.
func FuzzParseHash(f *testing.F) {
	f.Add(DummyHash)
	f.Add("$argon2id$v=19$m=1048577,t=2,p=1$ZtpTBRhur7ovYTNtKDkUag$4HmymyX3t0YgkLqx9LQCtPjd1Yrfp3PwRDyrvX4kSaw")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$$")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseHash(s)
		if err != nil {
			return
		}
		if h.memory > maxArgonMemory || h.time > maxArgonTime || h.time == 0 || h.threads == 0 ||
			len(h.salt) > maxSaltLength || len(h.key) > maxKeyLength || len(h.key) < minKeyLength {
			t.Fatalf("parseHash(%q) accepted out-of-bounds parameters %+v", s, h)
		}
	})
}

func FuzzParseToken(f *testing.F) {
	_, tok, _ := NewToken()
	for _, s := range []string{tok, "cst_", "cst__", "cst_aaaaaaaaaaaaaaaa_", tok + "x", strings.ToUpper(tok), "Basic x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		id, ok := ParseToken(in)
		if !ok {
			return
		}
		// Only the exact shape NewToken makes is a token: its id is a
		// prefix of it and its length is fixed.
		if len(in) != len(tok) || !strings.HasPrefix(in, tokenPrefix+id+"_") {
			t.Fatalf("ParseToken(%q) = %q: not the shape of a token", in, id)
		}
	})
}
