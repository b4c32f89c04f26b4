package message

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics and always describes the input
// with offsets inside it, children nested within their parents, and text
// that is valid UTF-8 (the store serialises Meta as JSON).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		mixed,
		string(crlf(mixed)),
		"",
		"\r\n",
		"Subject: x",
		"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\r\n--a\r\nContent-Type: message/rfc822\r\n\r\nSubject: y\r\n\r\nz\r\n--a--",
		"Content-Type: multipart/digest; boundary=\"a b\"\n\n--a b\n\nFrom: x@y\n\n--a b--\n",
		"Content-Type: text/plain; name*0*=utf-8''%C3; name*1*=%A9\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=C3=A9=\r\n",
		"From: =?utf-8?b?w6k=?= <a@b>, Group: c@d;\r\nTo: <<>>\r\nReferences: <a> <a> b@c\r\n\r\n",
		"Content-Type: text/html; charset=iso-8859-2\r\n\r\n<p>\xe9<script>x</script>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := Parse(raw)
		if m.Structure == nil {
			t.Fatal("no structure")
		}
		n := 0
		var check func(p *Part, lo, hi int64)
		check = func(p *Part, lo, hi int64) {
			n++
			if p.HeaderStart < lo || p.HeaderStart > p.BodyStart || p.BodyStart > p.BodyEnd || p.BodyEnd > hi {
				t.Fatalf("part %s/%s offsets %d %d %d outside [%d, %d]", p.Type, p.Subtype, p.HeaderStart, p.BodyStart, p.BodyEnd, lo, hi)
			}
			if p.Type == "multipart" && len(p.Parts) == 0 {
				t.Fatalf("multipart without parts")
			}
			if (p.Message == nil) != (p.Envelope == nil) {
				t.Fatalf("message part with envelope %v and body %v", p.Envelope, p.Message)
			}
			for _, c := range p.Parts {
				check(c, p.BodyStart, p.BodyEnd)
			}
			if p.Message != nil {
				check(p.Message, p.BodyStart, p.BodyEnd)
			}
			if _, err := DecodeBody(raw, p); err != nil && identityEncoding(p.Encoding) {
				t.Fatalf("DecodeBody: %v", err)
			}
		}
		check(m.Structure, 0, int64(len(raw)))
		if n > maxParts+maxDepth {
			t.Fatalf("%d parts", n)
		}
		for _, s := range []string{m.Envelope.Subject, m.BaseSubject, m.Preview} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 %q", s)
			}
		}
		if utf8.RuneCountInString(m.Preview) > previewRunes {
			t.Fatalf("preview of %d runes", utf8.RuneCountInString(m.Preview))
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatalf("marshal: %v", err)
		}
	})
}
