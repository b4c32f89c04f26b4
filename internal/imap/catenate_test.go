package imap

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestCatenate checks APPEND with CATENATE (RFC 4469): text literals and
// IMAP URLs of messages and sections on this server, joined in order.
func TestCatenate(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	if u := rc.ok("c CAPABILITY"); !strings.Contains(u[0], " CATENATE ") {
		t.Fatalf("capability: %q", u)
	}
	rc.login()
	rc.appendMsg("INBOX", "", multipartMsg)
	rc.ok(`c CREATE "Z&APw-rich"`)
	rc.appendMsg(`"Z&APw-rich"`, "", simpleMsg)
	u := rc.ok("s STATUS INBOX (UIDVALIDITY)")
	var validity uint32
	fmt.Sscanf(u[0], "* STATUS INBOX (UIDVALIDITY %d)", &validity)
	hdr := "From: alice@example.org\r\nSubject: fwd\r\n\r\n"
	cases := []struct{ parts, want string }{
		{fmt.Sprintf("TEXT {%d+}\r\n%s URL \"/INBOX;UIDVALIDITY=%d/;UID=1/;SECTION=1\"", len(hdr), hdr, validity),
			hdr + "Sch=C3=B6ne Gr=C3=BC=C3=9Fe aus Z=C3=BCrich"},
		{`URL "imap://alice%40example.org@imap.example.org/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(Subject)" URL /inbox/;uid=1/;section=TEXT/;partial=0.8`,
			"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\npreamble"},
		{"URL /INBOX/;UID=1", multipartMsg},
		// The mailbox in UTF-8 (RFC 5092) or in modified UTF-7.
		{`URL "/Z%C3%BCrich/;UID=1/;SECTION=TEXT" URL /Z&APw-rich/;UID=1/;SECTION=TEXT`, "Hi Bob,\r\nthe quick brown fox.\r\nHi Bob,\r\nthe quick brown fox.\r\n"},
	}
	for i, tc := range cases {
		rc.send("a APPEND Drafts CATENATE (" + tc.parts + ")\r\n")
		if _, tagged := rc.until("a"); !strings.HasPrefix(tagged, "a OK [APPENDUID") {
			t.Fatalf("catenate %d: %q", i, tagged)
		}
	}
	rc.ok("s SELECT Drafts")
	for i, tc := range cases {
		u := rc.ok(fmt.Sprintf("f FETCH %d (BODY.PEEK[])", i+1))
		if want := fmt.Sprintf("* %d FETCH (BODY[] %s)", i+1, lit(tc.want)); len(u) != 1 || u[0] != want {
			t.Errorf("catenated message %d:\n got %q\nwant %q", i+1, u, want)
		}
	}
	for _, bad := range []string{
		"URL /INBOX/;UID=9",
		fmt.Sprintf("URL /INBOX;UIDVALIDITY=%d/;UID=1", validity+1),
		"URL /Nowhere/;UID=1",
		"URL imap://imap.elsewhere.example/INBOX/;UID=1",
		"URL /INBOX/;UID=1/;SECTION=7",
		"URL /INBOX/;UID=1/;URLAUTH=anonymous:internal:0123",
		"URL INBOX",
	} {
		// The text literal after a bad URL is never asked for.
		rc.send("b APPEND Drafts CATENATE (" + bad + " TEXT {5}\r\n")
		if _, tagged := rc.until("b"); !strings.HasPrefix(tagged, "b NO [BADURL ") {
			t.Errorf("%s: %q", bad, tagged)
		}
	}
	rc.expect("b APPEND Drafts CATENATE ()", "b BAD")
	rc.expect("b APPEND Drafts CATENATE (FILE x)", "b BAD")
	rc.ok("n NOOP")
	if u := rc.ok("s STATUS Drafts (MESSAGES)"); u[0] != "* STATUS Drafts (MESSAGES 4)" {
		t.Errorf("after failures: %q", u)
	}
}

// TestCatenateTooBig checks that the parts of a CATENATE together stay
// within the APPEND limit.
func TestCatenateTooBig(t *testing.T) {
	e := newTestEnv(t, func(s *Server) { s.MaxLiteral = 1000 })
	rc := e.raw(t)
	rc.login()
	rc.appendMsg("INBOX", "", multipartMsg)
	rc.expect("a APPEND INBOX CATENATE (URL /INBOX/;UID=1 URL /INBOX/;UID=1)", "a NO [TOOBIG]")
	rc.ok("b APPEND INBOX CATENATE (URL /INBOX/;UID=1 TEXT {3+}\r\nend)")
}

// FuzzIMAPURL checks that parseIMAPURL takes any string without panicking
// and accepts only URLs that name a message in a UTF-8 mailbox.
func FuzzIMAPURL(f *testing.F) {
	for _, s := range []string{
		"/INBOX;UIDVALIDITY=785799047/;UID=113330/;SECTION=1.5.9",
		"imap://minbari.example.org/gray-council;UIDVALIDITY=385759045/;UID=20/;PARTIAL=0.1024",
		"imap://joe;AUTH=*@example.com:143/Caf%C3%A9/;UID=1/;SECTION=HEADER.FIELDS%20(From%20To)",
		"/x/;UID=1/;URLAUTH=anonymous:internal:0123",
		"/%ZZ/;UID=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseIMAPURL(s)
		if err != nil {
			return
		}
		if u.uid == 0 || u.mailbox == "" || !utf8.ValidString(u.mailbox) {
			t.Fatalf("parseIMAPURL(%q) = %+v", s, u)
		}
		if u.partial && (u.offset < 0 || u.count <= 0) {
			t.Fatalf("partial range %+v", u)
		}
	})
}
