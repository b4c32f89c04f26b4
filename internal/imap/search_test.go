package imap

import (
	"strings"
	"testing"
)

func TestSearch(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	rc.appendMsg("INBOX", `\Seen`, simpleMsg)
	rc.appendMsg("INBOX", `\Flagged $Work`, multipartMsg)
	rc.appendMsg("INBOX", `\Deleted`, strings.Replace(simpleMsg, "Hello there", "Invoice 42", 1))
	rc.ok("s SELECT INBOX")
	for _, tc := range []struct{ query, want string }{
		{"ALL", "* SEARCH 1 2 3"},
		{"SEEN", "* SEARCH 1"},
		{"UNSEEN", "* SEARCH 2 3"},
		{"FLAGGED", "* SEARCH 2"},
		{"DELETED", "* SEARCH 3"},
		{"UNDELETED", "* SEARCH 1 2"},
		{"KEYWORD $work", "* SEARCH 2"},
		{"UNKEYWORD $Work", "* SEARCH 1 3"},
		{"SUBJECT hello", "* SEARCH 1"},
		{`SUBJECT "grüße"`, "* SEARCH 2"},
		{"FROM carol", "* SEARCH 2"},
		{"TO bob@example.org", "* SEARCH 1 3"},
		{"CC anyone", "* SEARCH"},
		{"BODY \"QUICK BROWN\"", "* SEARCH 1 3"},
		{`BODY "zürich"`, "* SEARCH 2"},
		{"TEXT invoice", "* SEARCH 3"},
		{"HEADER Message-ID one@example", "* SEARCH 1 3"},
		{"HEADER Content-Type \"\"", "* SEARCH 2"},
		{"LARGER 300", "* SEARCH 2"},
		{"SMALLER 300", "* SEARCH 1 3"},
		{"OR SEEN FLAGGED", "* SEARCH 1 2"},
		{"NOT (OR SEEN FLAGGED)", "* SEARCH 3"},
		{"2:*", "* SEARCH 2 3"},
		{"UID 1,3", "* SEARCH 1 3"},
		{"SENTBEFORE 3-Jan-2006", "* SEARCH 1 3"},
		{"SENTON 3-jan-2006", "* SEARCH 2"},
		{"SENTSINCE 3-Jan-2006", "* SEARCH 2"},
		{"SINCE 1-Jan-2000 BEFORE 1-Jan-2100", "* SEARCH 1 2 3"},
		{"ON 1-Jan-2000", "* SEARCH"},
		{"NEW", "* SEARCH 2 3"}, // recent (no session had INBOX selected) and unseen
		{"OLD", "* SEARCH"},
		{"CHARSET UTF-8 SUBJECT invoice", "* SEARCH 3"},
	} {
		u := rc.ok("a SEARCH " + tc.query)
		if len(u) != 1 || u[0] != tc.want {
			t.Errorf("SEARCH %s = %q, want %q", tc.query, u, tc.want)
		}
	}
	u := rc.ok("b UID SEARCH RETURN (MIN MAX COUNT ALL) UNDELETED")
	if len(u) != 1 || u[0] != `* ESEARCH (TAG "b") UID MIN 1 MAX 2 COUNT 2 ALL 1:2` {
		t.Fatalf("esearch = %q", u)
	}
	u = rc.ok("c SEARCH RETURN () FLAGGED")
	if len(u) != 1 || u[0] != `* ESEARCH (TAG "c") ALL 2` {
		t.Fatalf("esearch all = %q", u)
	}
	u = rc.ok("d SEARCH RETURN (COUNT) NEW")
	if len(u) != 1 || u[0] != `* ESEARCH (TAG "d") COUNT 2` {
		t.Fatalf("esearch none = %q", u)
	}
	rc.expect("e SEARCH CHARSET KOI8-R ALL", "e NO [BADCHARSET")
	rc.expect("f SEARCH NOSUCHKEY", "f BAD")
	rc.expect("g SEARCH SINCE 31-Foo-2020", "g BAD")
	rc.expect("h SEARCH "+strings.Repeat("NOT ", 200)+"ALL", "h BAD")
	rc.send("i SEARCH SUBJECT {7}\r\n")
	if l := rc.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("no continuation: %q", l)
	}
	rc.send("invoice\r\n")
	if u, tagged := rc.until("i"); !strings.HasPrefix(tagged, "i OK") || u[0] != "* SEARCH 3" {
		t.Fatalf("literal search: %q %q", u, tagged)
	}
}

// groupMsg has groups, comments inside addresses and a source route.
const groupMsg = "From: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\r\n" +
	"To: A Group: Ed Jones <c@a.test>, joe@where.test, John <jdoe@one.test>;, group2: (foo) ;\r\n" +
	"Cc: <user (comment)@ (comment) domain.org>\r\n" +
	"Bcc: Routed <@relay.test:rob@dest.test>\r\n" +
	"Subject: groups\r\n" +
	"\r\n" +
	"body\r\n"

// TestSearchAddresses checks that FROM, TO and CC ignore comments inside
// addresses (RFC 5322 section 3.2.2) and find a group by its name.
func TestSearchAddresses(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	rc.appendMsg("INBOX", "", simpleMsg)
	rc.appendMsg("INBOX", "", groupMsg)
	rc.ok("s SELECT INBOX")
	for _, tc := range []struct{ query, want string }{
		{"FROM pete@silly.test", "* SEARCH 2"},
		{"FROM chap", "* SEARCH"},
		{"FROM account", "* SEARCH"},
		{"CC user@domain.org", "* SEARCH 2"},
		{"CC comment", "* SEARCH"},
		{`TO "A Group"`, "* SEARCH 2"},
		{"TO group2", "* SEARCH 2"},
		{"TO foo", "* SEARCH"},
		{"TO jdoe@one.test", "* SEARCH 2"},
		{"BCC rob@dest.test", "* SEARCH 2"},
	} {
		u := rc.ok("a SEARCH " + tc.query)
		if len(u) != 1 || u[0] != tc.want {
			t.Errorf("SEARCH %s: got %q, want %q", tc.query, u, tc.want)
		}
	}
}
