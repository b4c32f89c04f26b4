package message

import (
	"slices"
	"testing"
	"unicode/utf8"
)

func TestAddressList(t *testing.T) {
	start := func(name string) Address { return Address{Name: name, Group: GroupStart} }
	end := Address{Group: GroupEnd}
	for _, tc := range []struct {
		in   string
		want []Address
	}{
		{"Alice <alice@example.org>", []Address{{Name: "Alice", Local: "alice", Host: "example.org"}}},
		// Groups keep their markers (RFC 3501 section 7.4.2).
		{"group: a@b, c@d;, group2: e@f;", []Address{
			start("group"), {Local: "a", Host: "b"}, {Local: "c", Host: "d"}, end,
			start("group2"), {Local: "e", Host: "f"}, end,
		}},
		// A comment in an empty group is no address.
		{"group: a@b;, group2: (foo) ;", []Address{start("group"), {Local: "a", Host: "b"}, end, start("group2"), end}},
		{"undisclosed-recipients:;", []Address{start("undisclosed-recipients"), end}},
		{`"The Team" : x@y`, []Address{start("The Team"), {Local: "x", Host: "y"}, end}},
		// A source route goes to Route (RFC 5322 section 4.4).
		{"<@route:user@domain>", []Address{{Route: "@route", Local: "user", Host: "domain"}}},
		{"Joe <@a.example, @b.example:joe@c.example>", []Address{{Name: "Joe", Route: "@a.example,@b.example", Local: "joe", Host: "c.example"}}},
		// Comments are not part of an address (RFC 5322 section 3.4.1).
		{"<user (comment)@ (comment) domain.org>", []Address{{Local: "user", Host: "domain.org"}}},
		{"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", []Address{{Name: "Pete", Local: "pete", Host: "silly.test"}}},
		{"john.q . public @ example . com", []Address{{Local: "john.q.public", Host: "example.com"}}},
		// The old form with the name in a trailing comment.
		{"user@example.org (Some Name)", []Address{{Name: "Some Name", Local: "user", Host: "example.org"}}},
		{`"Doe, John" <john@example.com>, , =?utf-8?q?J=C3=B6rg?= <j@[192.0.2.1]>`, []Address{
			{Name: "Doe, John", Local: "john", Host: "example.com"}, {Name: "Jörg", Local: "j", Host: "[192.0.2.1]"},
		}},
		{"John Q. Public <jqp@example.com>", []Address{{Name: "John Q. Public", Local: "jqp", Host: "example.com"}}},
		// Salvaged: a member that does not parse, a ";" as separator.
		{"Team: a@example.org, b@@example.org;, c@d", []Address{
			start("Team"), {Local: "a", Host: "example.org"}, {Local: "b@", Host: "example.org"}, end, {Local: "c", Host: "d"},
		}},
		{"a@b; c@d", []Address{{Local: "a", Host: "b"}, {Local: "c", Host: "d"}}},
		{"   ", nil},
	} {
		if got := addressList(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("addressList(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
}

// FuzzAddressList checks that any header value gives a bounded list of
// valid UTF-8 addresses whose group markers pair up, as ENVELOPE needs.
func FuzzAddressList(f *testing.F) {
	for _, s := range []string{
		"group: a@b, c@d;, group2: e@f;",
		"group2: (foo) ;",
		"<@route,@r2:user@domain>",
		"<user (comment)@ (comment) domain.org>",
		`"unterminated <x@y>, a@b (unclosed`,
		"a: b: c@d;;",
		"Broken Mailer <broken@@example.org>, =?utf-8?q?J=C3=B6rg?= <joerg@example.de",
		"\xff\xfe <\x80@\x81>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		l := addressList(v)
		if len(l) > maxAddresses {
			t.Fatalf("%d addresses", len(l))
		}
		open := false
		for _, a := range l {
			for _, s := range []string{a.Name, a.Route, a.Local, a.Host} {
				if !utf8.ValidString(s) {
					t.Fatalf("invalid UTF-8 in %+v", a)
				}
			}
			switch a.Group {
			case GroupStart:
				if open {
					t.Fatalf("nested group in %+v", l)
				}
				open = true
			case GroupEnd:
				if !open || a != (Address{Group: GroupEnd}) {
					t.Fatalf("stray group end in %+v", l)
				}
				open = false
			}
		}
		// A group cut short by maxAddresses may stay open; nothing else.
		if open && len(l) < maxAddresses {
			t.Fatalf("unclosed group in %+v", l)
		}
	})
}

func BenchmarkAddressList(b *testing.B) {
	const v = `"Doe, John" <john@example.com>, Alice Example <alice@example.org>, ` +
		`=?utf-8?q?J=C3=B6rg?= <joerg@example.de>, Team: a@example.org, b@example.org;, carol@example.com`
	b.SetBytes(int64(len(v)))
	for b.Loop() {
		addressList(v)
	}
}
