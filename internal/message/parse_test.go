package message

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// crlf turns the LF line endings of a test literal into CRLF.
func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

// slice returns the bytes of raw between two offsets.
func slice(raw []byte, from, to int64) string {
	return string(raw[from:to])
}

// checkTree verifies the offset invariants of every part of a tree.
func checkTree(t *testing.T, raw []byte, p *Part, lo, hi int64) {
	t.Helper()
	if p.HeaderStart < lo || p.HeaderStart > p.BodyStart || p.BodyStart > p.BodyEnd || p.BodyEnd > hi {
		t.Fatalf("part %s/%s offsets %d %d %d outside [%d, %d]", p.Type, p.Subtype, p.HeaderStart, p.BodyStart, p.BodyEnd, lo, hi)
	}
	for _, c := range p.Parts {
		checkTree(t, raw, c, p.BodyStart, p.BodyEnd)
	}
	if p.Message != nil {
		checkTree(t, raw, p.Message, p.BodyStart, p.BodyEnd)
	}
}

const mixed = `From: Alice Example <alice@example.org>
To: Bob <bob@example.net>, carol@example.com
Cc: "Doe, John" <john@example.com>
Subject: Re: [list] Fwd: quarterly report
Date: Tue, 1 Jul 2003 10:52:37 +0200
Message-ID: <1234@example.org>
In-Reply-To: <1000@example.org>
References: <999@example.org>
 <1000@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

This is a preamble.
--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Hello Bob, the report is attached. Caf=C3=A9?
--inner
Content-Type: text/html; charset=utf-8

<p>Hello <b>Bob</b></p>
--inner--
--outer
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--outer--
Epilogue.
`

func TestParseMixed(t *testing.T) {
	raw := crlf(mixed)
	m := Parse(raw)
	s := m.Structure
	checkTree(t, raw, s, 0, int64(len(raw)))
	if s.Type != "multipart" || s.Subtype != "mixed" || len(s.Parts) != 2 {
		t.Fatalf("root = %s/%s with %d parts", s.Type, s.Subtype, len(s.Parts))
	}
	alt := s.Parts[0]
	if alt.Subtype != "alternative" || len(alt.Parts) != 2 {
		t.Fatalf("first part = %s/%s with %d parts", alt.Type, alt.Subtype, len(alt.Parts))
	}
	plain := alt.Parts[0]
	if got := slice(raw, plain.BodyStart, plain.BodyEnd); got != "Hello Bob, the report is attached. Caf=C3=A9?" {
		t.Errorf("plain body = %q", got)
	}
	if got := slice(raw, plain.HeaderStart, plain.BodyStart); got != "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" {
		t.Errorf("plain header = %q", got)
	}
	if plain.Lines != 1 || plain.Encoding != "quoted-printable" || plain.Params["charset"] != "utf-8" {
		t.Errorf("plain = %+v", plain)
	}
	if got := slice(raw, alt.Parts[1].BodyStart, alt.Parts[1].BodyEnd); got != "<p>Hello <b>Bob</b></p>" {
		t.Errorf("html body = %q", got)
	}
	// The alternative's body runs from its first delimiter to the end of
	// its close delimiter; the CRLF before "--outer" belongs to that.
	if got := slice(raw, alt.BodyStart, alt.BodyEnd); !strings.HasPrefix(got, "--inner\r\n") || !strings.HasSuffix(got, "--inner--") {
		t.Errorf("alternative body = %q", got)
	}
	pdf := s.Parts[1]
	if got := slice(raw, pdf.BodyStart, pdf.BodyEnd); got != "JVBERi0xLjQK" {
		t.Errorf("pdf body = %q", got)
	}
	if pdf.Disposition != "attachment" || pdf.DispositionParams["filename"] != "report.pdf" || pdf.Params["name"] != "report.pdf" {
		t.Errorf("pdf = %+v", pdf)
	}
	if b, err := DecodeBody(raw, pdf); err != nil || string(b) != "%PDF-1.4\n" {
		t.Errorf("DecodeBody(pdf) = %q, %v", b, err)
	}
	if !m.HasAttachment {
		t.Error("HasAttachment = false")
	}
	if m.Preview != "Hello Bob, the report is attached. Café?" {
		t.Errorf("Preview = %q", m.Preview)
	}
	e := m.Envelope
	if e.Subject != "Re: [list] Fwd: quarterly report" || m.BaseSubject != "quarterly report" {
		t.Errorf("subject %q, base %q", e.Subject, m.BaseSubject)
	}
	if want := time.Date(2003, 7, 1, 8, 52, 37, 0, time.UTC); !e.Date.Equal(want) {
		t.Errorf("date = %v", e.Date)
	}
	if len(e.From) != 1 || e.From[0] != (Address{Name: "Alice Example", Local: "alice", Host: "example.org"}) {
		t.Errorf("from = %+v", e.From)
	}
	if len(e.To) != 2 || e.To[1] != (Address{Local: "carol", Host: "example.com"}) || e.Cc[0].Name != "Doe, John" {
		t.Errorf("to = %+v, cc = %+v", e.To, e.Cc)
	}
	if e.MessageID != "<1234@example.org>" || e.InReplyTo != "<1000@example.org>" {
		t.Errorf("ids %q %q", e.MessageID, e.InReplyTo)
	}
	if strings.Join(m.References, " ") != "999@example.org 1000@example.org" {
		t.Errorf("references = %q", m.References)
	}
}

func TestParseForwarded(t *testing.T) {
	raw := crlf(`From: a@example.org
Subject: fwd
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/plain

See below.
--b
Content-Type: message/rfc822

From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.fr>
Subject: =?UTF-8?B?w6l0w6k=?= and =?iso-8859-1?q?=E9t=E9?=
Content-Type: text/plain

Inner body
line two
--b--
`)
	m := Parse(raw)
	checkTree(t, raw, m.Structure, 0, int64(len(raw)))
	fw := m.Structure.Parts[1]
	if fw.Type != "message" || fw.Subtype != "rfc822" || fw.Message == nil || fw.Envelope == nil {
		t.Fatalf("forwarded part = %+v", fw)
	}
	if fw.Envelope.From[0].Name != "André" || fw.Envelope.Subject != "été and été" {
		t.Errorf("inner envelope = %+v", fw.Envelope)
	}
	if got := slice(raw, fw.Message.BodyStart, fw.Message.BodyEnd); got != "Inner body\r\nline two" {
		t.Errorf("inner body = %q", got)
	}
	if fw.Lines != 6 || fw.Message.Lines != 2 {
		t.Errorf("lines %d %d", fw.Lines, fw.Message.Lines)
	}
	if !m.HasAttachment || m.Preview != "See below." {
		t.Errorf("attachment %v preview %q", m.HasAttachment, m.Preview)
	}
}

func TestParseDigestDefault(t *testing.T) {
	raw := crlf(`Content-Type: multipart/digest; boundary=d

--d

Subject: one

1
--d--
`)
	m := Parse(raw)
	p := m.Structure.Parts[0]
	if p.Type != "message" || p.Subtype != "rfc822" || p.Envelope == nil || p.Envelope.Subject != "one" {
		t.Errorf("digest child = %+v", p)
	}
}

func TestParseUTF8Headers(t *testing.T) {
	raw := crlf("From: José <josé@exämple.org>\nSubject: Grüße\nTo: undisclosed-recipients:;\n\nbody\n")
	m := Parse(raw)
	if m.Envelope.Subject != "Grüße" || m.Envelope.From[0] != (Address{Name: "José", Local: "josé", Host: "exämple.org"}) ||
		!slices.Equal(m.Envelope.To, []Address{{Name: "undisclosed-recipients", Group: GroupStart}, {Group: GroupEnd}}) {
		t.Errorf("envelope = %+v", m.Envelope)
	}
	s := m.Structure
	if s.Type != "text" || s.Subtype != "plain" || s.Params["charset"] != "us-ascii" {
		t.Errorf("default type = %s/%s %v", s.Type, s.Subtype, s.Params)
	}
}

func TestParseRFC2231(t *testing.T) {
	raw := crlf(`Content-Type: application/octet-stream;
 name*0*=iso-8859-1'fr'%E9t;
 name*1*=%E9;
 name*2=".txt"
Content-Disposition: attachment; filename*=UTF-8''%C3%A9t%C3%A9.txt

x
`)
	p := Parse(raw).Structure
	if p.Params["name"] != "été.txt" || p.DispositionParams["filename"] != "été.txt" {
		t.Errorf("params %q, disposition params %q", p.Params, p.DispositionParams)
	}
}

func TestParseBareLF(t *testing.T) {
	raw := []byte("Subject: lf\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\none\n--x\n\ntwo\n--x--\n")
	m := Parse(raw)
	checkTree(t, raw, m.Structure, 0, int64(len(raw)))
	ps := m.Structure.Parts
	if len(ps) != 2 || slice(raw, ps[0].BodyStart, ps[0].BodyEnd) != "one" || slice(raw, ps[1].BodyStart, ps[1].BodyEnd) != "two" {
		t.Fatalf("parts = %+v", ps)
	}
	if slice(raw, ps[1].HeaderStart, ps[1].BodyStart) != "\n" {
		t.Errorf("empty header = %q", slice(raw, ps[1].HeaderStart, ps[1].BodyStart))
	}
}

func TestParseDegenerate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		raw       string
		bodyStart int64
		typ       string
		parts     int
	}{
		{"empty", "", 0, "text/plain", 0},
		{"header only", "Subject: x\r\nFrom: a@b\r\n", 23, "text/plain", 0},
		{"no body", "Subject: x\r\n\r\n", 14, "text/plain", 0},
		{"body only", "\r\nhello", 2, "text/plain", 0},
		{"garbage", "\x00\xff\xfe:::\r\n\t\r\n", 11, "text/plain", 0},
		{"no boundary param", "Content-Type: multipart/mixed\r\n\r\n--x\r\nhi\r\n", 33, "text/plain", 0},
		{"no delimiter", "Content-Type: multipart/mixed; boundary=x\r\n\r\nhi\r\n", 45, "text/plain", 0},
		{"unterminated", "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nhi\r\n", 45, "multipart/mixed", 1},
		{"longer boundary only", "Content-Type: multipart/mixed; boundary=x\r\n\r\n--xy\r\n\r\nhi\r\n", 45, "text/plain", 0},
		{"bad type", "Content-Type: text\r\n\r\nhi", 22, "text/plain", 0},
		{"encoded message", "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA==", 67, "application/octet-stream", 0},
	} {
		raw := []byte(tc.raw)
		m := Parse(raw)
		s := m.Structure
		checkTree(t, raw, s, 0, int64(len(raw)))
		if s.BodyStart != tc.bodyStart || s.BodyEnd != int64(len(raw)) || s.Type+"/"+s.Subtype != tc.typ || len(s.Parts) != tc.parts {
			t.Errorf("%s: %s/%s body %d-%d with %d parts", tc.name, s.Type, s.Subtype, s.BodyStart, s.BodyEnd, len(s.Parts))
		}
	}
}

func TestParseUnterminatedBody(t *testing.T) {
	raw := crlf("Content-Type: multipart/mixed; boundary=x\n\n--x\n\nhi\n")
	p := Parse(raw).Structure.Parts[0]
	if got := slice(raw, p.BodyStart, p.BodyEnd); got != "hi\r\n" {
		t.Errorf("last part body = %q", got)
	}
}

func TestParseDeepNesting(t *testing.T) {
	var b bytes.Buffer
	const depth = 200
	for i := range depth {
		b.WriteString("Content-Type: multipart/mixed; boundary=b" + strings.Repeat("x", i) + "\r\n\r\n--b" + strings.Repeat("x", i) + "\r\n")
	}
	b.WriteString("\r\nleaf\r\n")
	raw := b.Bytes()
	m := Parse(raw)
	checkTree(t, raw, m.Structure, 0, int64(len(raw)))
	d := 0
	p := m.Structure
	for len(p.Parts) > 0 {
		p = p.Parts[0]
		d++
	}
	if d != maxDepth || p.Type != "application" {
		t.Errorf("nesting stopped at depth %d with %s/%s", d, p.Type, p.Subtype)
	}
}

func TestParseManyParts(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("Content-Type: multipart/mixed; boundary=b\r\n\r\n")
	for range 3 * maxParts {
		b.WriteString("--b\r\n\r\nx\r\n")
	}
	raw := b.Bytes()
	m := Parse(raw)
	checkTree(t, raw, m.Structure, 0, int64(len(raw)))
	if n := len(m.Structure.Parts); n != maxParts-1 {
		t.Errorf("%d parts kept, want %d", n, maxParts-1)
	}
}

func TestParseBadAddresses(t *testing.T) {
	raw := crlf(`From: Broken Mailer <broken@@example.org>, "unterminated <x@y>
To: Team: a@example.org, b@example.org;, c@example.org
Cc: =?utf-8?q?J=C3=B6rg?= <joerg@example.de
Sender: just-a-name

`)
	e := Parse(raw).Envelope
	if len(e.From) == 0 || e.From[0].Name != "Broken Mailer" || e.From[0].Host != "example.org" {
		t.Errorf("from = %+v", e.From)
	}
	if len(e.To) != 5 || e.To[0].Group != GroupStart || e.To[3].Group != GroupEnd || e.To[4].Local != "c" {
		t.Errorf("to = %+v", e.To)
	}
	if len(e.Cc) != 1 || e.Cc[0].Name != "Jörg" || e.Cc[0].Local != "joerg" {
		t.Errorf("cc = %+v", e.Cc)
	}
	if len(e.Sender) != 1 || e.Sender[0].Local != "just-a-name" {
		t.Errorf("sender = %+v", e.Sender)
	}
}

func TestPreviewHTML(t *testing.T) {
	raw := crlf(`Content-Type: text/html; charset=iso-8859-1
Content-Transfer-Encoding: base64

` + "PGh0bWw+PHN0eWxlPnB7fTwvc3R5bGU+PHA+Q2Fm6SAmYW1wOyB0aOk8L3A+PC9odG1sPg==\n")
	m := Parse(raw)
	if m.Preview != "Café & thé" {
		t.Errorf("Preview = %q", m.Preview)
	}
	if m.HasAttachment {
		t.Error("html body counted as attachment")
	}
}

func TestPreviewLength(t *testing.T) {
	raw := []byte("\r\n" + strings.Repeat("é  \r\n", 1000))
	m := Parse(raw)
	if n := len([]rune(m.Preview)); n != 256 || strings.Contains(m.Preview, "  ") {
		t.Errorf("preview of %d runes: %q", n, m.Preview[:20])
	}
}

func TestHasAttachmentInline(t *testing.T) {
	raw := crlf(`Content-Type: multipart/related; boundary=r

--r
Content-Type: text/html

<img src="cid:logo">
--r
Content-Type: image/png
Content-Disposition: inline

png
--r--
`)
	if Parse(raw).HasAttachment {
		t.Error("inline image counted as attachment")
	}
}

func BenchmarkParse(b *testing.B) {
	var buf bytes.Buffer
	buf.Write(crlf(mixed[:strings.Index(mixed, "This is a preamble")]))
	buf.WriteString("--outer\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	for range 200 {
		buf.WriteString("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n")
	}
	buf.WriteString("--outer\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for range 450 {
		buf.WriteString("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n")
	}
	buf.WriteString("--outer--\r\n")
	raw := buf.Bytes()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		Parse(raw)
	}
}

// TestPreviewWindow checks previews whose text starts beyond the first
// window, or whose escapes straddle a window's end.
func TestPreviewWindow(t *testing.T) {
	style := "<style>" + strings.Repeat("p { margin: 0 }\r\n", 1000) + "</style>"
	qp := strings.Repeat("caf=C3=A9 th=C3=A9=\r\n ", 400)
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"html after a long style", "Content-Type: text/html\r\n\r\n<html>" + style + "<p>Hello &amp; welcome</p>", "Hello & welcome"},
		{"quoted-printable across windows", "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + qp,
			truncateRunes(strings.Repeat("café thé ", 400), previewRunes)},
	} {
		if got := Parse([]byte(tc.raw)).Preview; got != tc.want {
			t.Errorf("%s: preview %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestCollapseSpace checks collapseSpace against what it stands for,
// strings.Join(strings.Fields(s), " ") cut to n runes, on strings of words,
// spaces of every kind and multi-byte runes.
func TestCollapseSpace(t *testing.T) {
	pieces := []string{"a", "bc", "café", "日本", " ", "  ", "\t", "\r\n", "\u00a0", "\u2003", "\ufffd"}
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		var b strings.Builder
		for range rnd.IntN(40) {
			b.WriteString(pieces[rnd.IntN(len(pieces))])
		}
		s, n := b.String(), rnd.IntN(30)
		joined := []rune(strings.Join(strings.Fields(s), " "))
		want, wantMore := string(joined[:min(n, len(joined))]), len(joined) > n
		got, more := collapseSpace(s, n)
		if got != want || more != wantMore {
			t.Fatalf("case %d: collapseSpace(%q, %d) = %q, %v; want %q, %v", i, s, n, got, more, want, wantMore)
		}
	}
}
