package imap

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func TestAppendFetch(t *testing.T) {
	e := newTestEnv(t)
	c := e.client(t, nil)
	date := time.Date(2024, 2, 1, 13, 14, 15, 0, time.FixedZone("", 3600))
	for _, msg := range []string{simpleMsg, multipartMsg} {
		cmd := c.Append("INBOX", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagFlagged}, Time: date})
		cmd.Write([]byte(msg))
		cmd.Close()
		data, err := cmd.Wait()
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		if data.UID == 0 || data.UIDValidity == 0 {
			t.Fatalf("append data = %+v, want APPENDUID", data)
		}
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	bodySection := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{
		Flags: true, UID: true, InternalDate: true, RFC822Size: true, Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection: []*imap.FetchItemBodySection{bodySection},
	}).Collect()
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if len(msgs) != 2 {
		t.Fatalf("got %d messages", len(msgs))
	}
	m := msgs[0]
	if got := m.FindBodySection(bodySection); string(got) != simpleMsg {
		t.Fatalf("BODY[] = %q", got)
	}
	if m.RFC822Size != int64(len(simpleMsg)) || !m.InternalDate.Equal(date) {
		t.Fatalf("size %d date %v", m.RFC822Size, m.InternalDate)
	}
	if m.Envelope.Subject != "Hello there" || len(m.Envelope.From) != 1 || m.Envelope.From[0].Addr() != "alice@example.org" ||
		m.Envelope.MessageID != "one@example.org" || len(m.Envelope.Sender) != 1 {
		t.Fatalf("envelope = %+v", m.Envelope)
	}
	// \Recent too: no session had INBOX selected when it arrived.
	if len(m.Flags) != 2 || m.Flags[0] != imap.FlagFlagged || m.Flags[1] != `\Recent` {
		t.Fatalf("flags = %v (BODY.PEEK must not set \\Seen)", m.Flags)
	}
	mp, ok := msgs[1].BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || !strings.EqualFold(mp.Subtype, "mixed") || len(mp.Children) != 2 {
		t.Fatalf("bodystructure = %#v", msgs[1].BodyStructure)
	}
	text := mp.Children[0].(*imap.BodyStructureSinglePart)
	if !strings.EqualFold(text.Type, "text") || !strings.EqualFold(text.Encoding, "quoted-printable") || text.Params["charset"] != "utf-8" || text.Text == nil || text.Text.NumLines != 1 {
		t.Fatalf("text part = %#v", text)
	}
	att := mp.Children[1].(*imap.BodyStructureSinglePart)
	if att.Extended == nil || att.Extended.Disposition == nil || !strings.EqualFold(att.Extended.Disposition.Value, "attachment") {
		t.Fatalf("attachment = %#v", att)
	}
	if msgs[1].Envelope.Subject != "Grüße" {
		t.Fatalf("subject = %q", msgs[1].Envelope.Subject)
	}
}

func TestFetchSections(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	rc.appendMsg("INBOX", "", multipartMsg)
	rc.ok("s SELECT INBOX")
	hdrEnd := strings.Index(multipartMsg, "\r\n\r\n") + 4
	for _, tc := range []struct{ item, want string }{
		{"BODY.PEEK[HEADER]", "BODY[HEADER] " + lit(multipartMsg[:hdrEnd])},
		{"BODY.PEEK[TEXT]<0.8>", "BODY[TEXT]<0> {8}preamble"},
		{"BODY.PEEK[HEADER.FIELDS (subject FROM)]", "BODY[HEADER.FIELDS (SUBJECT FROM)] " + lit("From: Carol <carol@example.org>\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\n")},
		{"BODY.PEEK[1]", "BODY[1] " + lit("Sch=C3=B6ne Gr=C3=BC=C3=9Fe aus Z=C3=BCrich")},
		{"BODY.PEEK[1.MIME]", "BODY[1.MIME] " + lit("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")},
		{"BINARY.PEEK[1]", "BINARY[1] " + lit("Schöne Grüße aus Zürich")},
		{"BINARY.SIZE[2]", "BINARY.SIZE[2] 5"},
		{"BINARY.PEEK[2]", "BINARY[2] ~{5}\x00\x01\x02\x03\x04"},
		{"BODY.PEEK[3]", "BODY[3] {0}"},
		{"RFC822.SIZE", "RFC822.SIZE " + strconv.Itoa(len(multipartMsg))},
	} {
		u := rc.ok("f FETCH 1 (" + tc.item + ")")
		want := "* 1 FETCH (" + tc.want + ")"
		if len(u) != 1 || u[0] != want {
			t.Errorf("FETCH %s:\n got %q\nwant %q", tc.item, u, want)
		}
	}
}

func lit(s string) string { return "{" + strconv.Itoa(len(s)) + "}" + s }

func TestFetchSetsSeen(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	rc.appendMsg("INBOX", "", simpleMsg)
	rc.ok("x EXAMINE INBOX")
	u := rc.ok("f FETCH 1 (BODY[TEXT])")
	if strings.Contains(strings.Join(u, ""), `\Seen`) {
		t.Fatalf("EXAMINE fetch set \\Seen: %q", u)
	}
	rc.expect(`s STORE 1 +FLAGS (\Deleted)`, "s NO")
	rc.ok("y SELECT INBOX")
	u = rc.ok("g FETCH 1 (BODY[TEXT])")
	if len(u) != 1 || !strings.Contains(u[0], `FLAGS (\Seen \Recent)`) {
		t.Fatalf("fetch did not report \\Seen: %q", u)
	}
	u = rc.ok("h UID FETCH 1:* (FLAGS)")
	if len(u) != 1 || u[0] != `* 1 FETCH (UID 1 FLAGS (\Seen \Recent))` {
		t.Fatalf("flags after fetch: %q", u)
	}
}

// binaryMsg has a part with Content-Transfer-Encoding binary holding NULs.
const binaryMsg = "From: alice@example.org\r\n" +
	"Subject: binary\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=b\r\n" +
	"\r\n" +
	"--b\r\n" +
	"Content-Type: text/plain\r\n" +
	"\r\n" +
	"text\r\n" +
	"--b\r\n" +
	"Content-Type: application/octet-stream\r\n" +
	"Content-Transfer-Encoding: binary\r\n" +
	"\r\n" +
	"a\x00b\x00c\r\n" +
	"--b--\r\n"

// TestFetchNULOnlyInLiteral8 checks that a NUL travels only in a literal8,
// which only BINARY answers with (RFC 9051 section 4.3.1, RFC 3516
// section 4.3), and that the replaced bytes keep the sizes that
// RFC822.SIZE and BODYSTRUCTURE announce.
func TestFetchNULOnlyInLiteral8(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	rc.send(fmt.Sprintf("A APPEND INBOX ~{%d+}\r\n%s\r\n", len(binaryMsg), binaryMsg))
	if _, tagged := rc.until("A"); !strings.HasPrefix(tagged, "A OK") {
		t.Fatalf("append: %q", tagged)
	}
	rc.ok("s EXAMINE INBOX")
	masked := strings.ReplaceAll(binaryMsg, "\x00", "\x80")
	for _, tc := range []struct{ item, want string }{
		{"BODY.PEEK[2]", "BODY[2] " + lit("a\x80b\x80c")},
		{"BODY.PEEK[2]<1.3>", "BODY[2]<1> " + lit("\x80b\x80")},
		{"BODY.PEEK[]", "BODY[] " + lit(masked)},
		{"BODY.PEEK[TEXT]", "BODY[TEXT] " + lit(masked[strings.Index(masked, "--b"):])},
		{"RFC822", "RFC822 " + lit(masked)},
		{"RFC822.SIZE", "RFC822.SIZE " + strconv.Itoa(len(binaryMsg))},
		{"BINARY.PEEK[2]", "BINARY[2] ~{5}a\x00b\x00c"},
		{"BINARY.PEEK[]", "BINARY[] ~{" + strconv.Itoa(len(binaryMsg)) + "}" + binaryMsg},
	} {
		u, tagged := rc.cmd("f FETCH 1 (" + tc.item + ")")
		want := "* 1 FETCH (" + tc.want + ")"
		if len(u) != 1 || u[0] != want || !strings.HasPrefix(tagged, "f OK") {
			t.Errorf("FETCH %s:\n got %q %q\nwant %q", tc.item, u, tagged, want)
		}
	}
}

// TestFetchEnvelopeGroups checks the group markers, the source route and
// the comments of ENVELOPE addresses (RFC 3501 section 7.4.2).
func TestFetchEnvelopeGroups(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	rc.appendMsg("INBOX", "", groupMsg)
	rc.ok("s SELECT INBOX")
	u := rc.ok("f FETCH 1 (ENVELOPE)")
	from := `(("Pete" NIL "pete" "silly.test"))`
	to := `((NIL NIL "A Group" NIL)("Ed Jones" NIL "c" "a.test")(NIL NIL "joe" "where.test")("John" NIL "jdoe" "one.test")(NIL NIL NIL NIL)` +
		`(NIL NIL "group2" NIL)(NIL NIL NIL NIL))`
	cc := `((NIL NIL "user" "domain.org"))`
	bcc := `(("Routed" "@relay.test" "rob" "dest.test"))`
	want := `* 1 FETCH (ENVELOPE (NIL "groups" ` + from + " " + from + " " + from + " " + to + " " + cc + " " + bcc + " NIL NIL))"
	if len(u) != 1 || u[0] != want {
		t.Fatalf("envelope:\n got %q\nwant %q", u, want)
	}
}

// TestFetchEnvelopeBadAddresses checks that an address without a domain
// or a mailbox name never looks like a group marker, whose host is NIL
// (RFC 3501 section 7.4.2): the missing part is named, as Dovecot does.
func TestFetchEnvelopeBadAddresses(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	rc.appendMsg("INBOX", "", "From: just-a-name\r\nTo: Nobody <>, @\r\nSubject: bad\r\n\r\nx\r\n")
	rc.ok("s SELECT INBOX")
	u := rc.ok("f FETCH 1 (ENVELOPE)")
	from := `((NIL NIL "just-a-name" "MISSING_DOMAIN"))`
	to := `(("Nobody" NIL "MISSING_MAILBOX" "MISSING_DOMAIN")(NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))`
	want := `* 1 FETCH (ENVELOPE (NIL "bad" ` + from + " " + from + " " + from + " " + to + " NIL NIL NIL NIL))"
	if len(u) != 1 || u[0] != want {
		t.Fatalf("envelope:\n got %q\nwant %q", u, want)
	}
}
