package directory

import (
	"errors"
	"strings"
	"testing"
)

func TestCanonical(t *testing.T) {
	good := []struct{ in, want string }{
		{"User@Example.COM", "user@example.com"},
		{"  a@b  ", "a@b"},
		{`"odd@local"@example.com`, `"odd@local"@example.com`},
		{"user+Tag@example.com", "user+tag@example.com"},
		{"Ünïcode@xn--bcher-kva.example", "ünïcode@xn--bcher-kva.example"},
		{strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 64) + "@example.com"},
	}
	for _, tc := range good {
		got, err := Canonical(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	bad := []string{
		"", "user", "@example.com", "user@", "us\x00er@example.com", "us\ter@example.com",
		"user@exa mple.com", "user@-example.com", "user@example-.com", "user@example..com",
		"user@.example.com", "user@example.com.", "user@bücher.example", "\xff@example.com",
		"us\u0085er@example.com", "user@[192.0.2.1]",
		strings.Repeat("a", 65) + "@example.com",
		"a@" + strings.Repeat("b", 64) + ".com",
		"a@" + strings.Repeat(strings.Repeat("b", 60)+".", 5) + "com",
		strings.Repeat("a", 64) + "@" + strings.Repeat(strings.Repeat("b", 62)+".", 3) + "com",
	}
	for _, in := range bad {
		if got, err := Canonical(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Canonical(%q) = %q, %v; want ErrInvalid", in, got, err)
		}
	}
}

func TestSplitSubaddress(t *testing.T) {
	for _, tc := range []struct{ in, base, tag string }{
		{"user", "user", ""},
		{"user+tag", "user", "tag"},
		{"user+", "user", ""},
		{"user+a+b", "user", "a+b"},
		{"+tag", "+tag", ""},
	} {
		base, tag := SplitSubaddress(tc.in)
		if base != tc.base || tag != tc.tag {
			t.Errorf("SplitSubaddress(%q) = %q, %q; want %q, %q", tc.in, base, tag, tc.base, tc.tag)
		}
	}
}

func TestDomainOf(t *testing.T) {
	if d := DomainOf(`"a@b"@example.com`); d != "example.com" {
		t.Errorf("DomainOf = %q", d)
	}
}

func TestCheckCell(t *testing.T) {
	for _, name := range []string{"", "a", "cell-1", "eu_west.2", strings.Repeat("c", 64)} {
		if err := CheckCell(name); err != nil {
			t.Errorf("CheckCell(%q) = %v, want nil", name, err)
		}
	}
	for _, name := range []string{" ", "a b", "cell/1", "cell\x00", "cellé", "a\n", strings.Repeat("c", 65)} {
		if err := CheckCell(name); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckCell(%q) = %v, want ErrInvalid", name, err)
		}
	}
}
