package mtasts

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	p, err := Parse("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != Enforce || p.MaxAge != 604800*time.Second || len(p.MX) != 3 {
		t.Fatalf("Parse = %+v", p)
	}
	for host, want := range map[string]bool{
		"mail.example.com":      true,
		"MAIL.example.com.":     true,
		"foo.example.net":       true,
		"example.net":           false,
		"a.b.example.net":       false,
		"backupmx.example.com":  true,
		"mail.example.com.evil": false,
	} {
		if got := p.Matches(host); got != want {
			t.Errorf("Matches(%q) = %v, want %v", host, got, want)
		}
	}

	bad := []string{
		"",
		"version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n",
		"version: STSv1\nmode: sometimes\nmx: a\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a\n",
		"version: STSv1\nmode: enforce\nmx: a\nmax_age: -1\n",
		"version: STSv1\nmode: enforce\nmx: a b\nmax_age: 1\n",
		"no colon here\n",
	}
	for _, b := range bad {
		if _, err := Parse(b); err == nil {
			t.Errorf("Parse(%q) succeeded", b)
		}
	}
	// max_age is capped at a year; mode none needs no mx.
	p, err = Parse("version: STSv1\nmode: none\nmax_age: 9999999999\n")
	if err != nil || p.MaxAge != maxMaxAge {
		t.Errorf("Parse(mode none, huge max_age) = %+v, %v", p, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("version: STSv1\r\nmode: enforce\r\nmx: *.example.net\r\nmax_age: 604800\r\n")
	f.Add("version: STSv1\nmode: none\nmax_age: 0\n")
	f.Fuzz(func(t *testing.T, body string) {
		p, err := Parse(body)
		if err != nil {
			return
		}
		if p.Mode != Enforce && p.Mode != Testing && p.Mode != None {
			t.Fatalf("mode %q accepted", p.Mode)
		}
		if p.MaxAge < 0 || p.MaxAge > maxMaxAge {
			t.Fatalf("max_age %v accepted", p.MaxAge)
		}
		for _, mx := range p.MX {
			if mx == "" || strings.ContainsAny(mx, " \t") {
				t.Fatalf("mx %q accepted", mx)
			}
		}
	})
}
