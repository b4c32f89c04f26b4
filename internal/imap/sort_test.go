package imap

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// testMail builds a message; fields with an empty value are left out.
func testMail(from, to, cc, subject, date, id, refs string, bodyLen int) string {
	var b strings.Builder
	for _, f := range [][2]string{{"From", from}, {"To", to}, {"Cc", cc}, {"Subject", subject}, {"Date", date}, {"Message-ID", id}, {"References", refs}} {
		if f[1] != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", f[0], f[1])
		}
	}
	b.WriteString("\r\n")
	b.WriteString(strings.Repeat("x", bodyLen))
	b.WriteString("\r\n")
	return b.String()
}

// appendAt appends a message with an internal date.
func (rc *rawConn) appendAt(internal, msg string) {
	rc.t.Helper()
	rc.send(fmt.Sprintf("A APPEND INBOX () %q {%d+}\r\n%s\r\n", internal, len(msg), msg))
	if _, tagged := rc.until("A"); !strings.HasPrefix(tagged, "A OK") {
		rc.t.Fatalf("append: %q", tagged)
	}
}

// sortMailbox fills INBOX with four messages that each sort key orders
// differently.
func sortMailbox(t *testing.T, e *testEnv) *rawConn {
	rc := e.raw(t)
	rc.login()
	rc.appendAt("05-Jan-2020 00:00:00 +0000", testMail("zed@b.example", "amy@x.example", "", "Re: beta", "Fri, 03 Jan 2020 00:00:00 +0000", "", "", 400))
	rc.appendAt("04-Jan-2020 00:00:00 +0000", testMail("Adam <Adam@c.example>", "", "bob@x.example", "alpha", "Wed, 01 Jan 2020 00:00:00 +0000", "", "", 10))
	// No Date: sorted by its internal date.
	rc.appendAt("02-Jan-2020 00:00:00 +0000", testMail("_under@a.example", "Carl@x.example", "", "[list] Beta", "", "", "", 200))
	rc.appendAt("06-Jan-2020 00:00:00 +0000", testMail("bob@a.example", "dave@x.example", "", "Gamma", "Thu, 02 Jan 2020 12:00:00 +0100", "", "", 100))
	rc.ok("s SELECT INBOX")
	return rc
}

func TestSort(t *testing.T) {
	e := newTestEnv(t)
	rc := sortMailbox(t, e)
	if u := rc.ok("c CAPABILITY"); !strings.Contains(u[0], " SORT ") || !strings.Contains(u[0], " ESORT ") {
		t.Errorf("capability = %q", u)
	}
	for _, tc := range []struct{ cmd, want string }{
		{"SORT (SUBJECT) UTF-8 ALL", "* SORT 2 1 3 4"},
		{"SORT (SUBJECT DATE) UTF-8 ALL", "* SORT 2 3 1 4"},
		// i;ascii-casemap: "_" sorts after upper case letters.
		{"SORT (FROM) UTF-8 ALL", "* SORT 2 4 1 3"},
		{"SORT (TO) US-ASCII ALL", "* SORT 2 1 3 4"},
		{"SORT (CC) UTF-8 ALL", "* SORT 1 3 4 2"},
		// REVERSE does not reverse the final order by sequence number.
		{"SORT (REVERSE CC) UTF-8 ALL", "* SORT 2 1 3 4"},
		{"SORT (DATE) UTF-8 ALL", "* SORT 2 3 4 1"},
		{"SORT (REVERSE DATE) UTF-8 ALL", "* SORT 1 4 3 2"},
		{"SORT (ARRIVAL) UTF-8 ALL", "* SORT 3 2 1 4"},
		{"SORT (SIZE) UTF-8 ALL", "* SORT 2 4 3 1"},
		{"SORT (reverse size) utf-8 all", "* SORT 1 3 4 2"},
		{"SORT (DATE) UTF-8 NOT FROM zed", "* SORT 2 3 4"},
		{"SORT (DATE) UTF-8 SUBJECT nothing", "* SORT"},
		{"UID SORT (SUBJECT) UTF-8 2:4", "* SORT 2 3 4"},
		{"SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL", `* ESEARCH (TAG "a") MIN 2 MAX 1 COUNT 4 ALL 2:4,1`},
		{"UID SORT RETURN () (REVERSE ARRIVAL) UTF-8 ALL", `* ESEARCH (TAG "a") UID ALL 4,1:3`},
	} {
		u := rc.ok("a " + tc.cmd)
		if len(u) != 1 || u[0] != tc.want {
			t.Errorf("%s = %q, want %q", tc.cmd, u, tc.want)
		}
	}
	rc.expect("b SORT (FOO) UTF-8 ALL", "b BAD")
}

// TestSortGroup checks that a group address sorts by the group's name, the
// addr-mailbox of its start marker (RFC 5256 section 3, RFC 3501 section
// 7.4.2), not by a member.
func TestSortGroup(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	rc.appendMsg("INBOX", "", testMail("Zoo: aaron@x.example;", "team: aa@x.example, zz@y.example;", "mm@x.example", "one", "", "", "", 1))
	rc.appendMsg("INBOX", "", testMail("beth@x.example", "sam@x.example", "Aardvarks: zz@x.example;", "two", "", "", "", 1))
	rc.ok("s SELECT INBOX")
	for _, tc := range []struct{ cmd, want string }{
		{"SORT (FROM) UTF-8 ALL", "* SORT 2 1"},
		{"SORT (TO) UTF-8 ALL", "* SORT 2 1"},
		{"SORT (CC) UTF-8 ALL", "* SORT 2 1"},
	} {
		if u := rc.ok("a " + tc.cmd); len(u) != 1 || u[0] != tc.want {
			t.Errorf("%s = %q, want %q", tc.cmd, u, tc.want)
		}
	}
}

func TestSortBad(t *testing.T) {
	e := newTestEnv(t)
	rc := sortMailbox(t, e)
	rc.expect("b SORT (FOO) UTF-8 ALL", "b BAD")
	rc.expect("b SORT () UTF-8 ALL", "b BAD")
	rc.expect("b SORT (REVERSE) UTF-8 ALL", "b BAD")
	rc.expect("b SORT DATE UTF-8 ALL", "b BAD")
	rc.expect("b SORT (DATE) UTF-8", "b BAD")
	rc.expect("b SORT (DATE) KOI8-R ALL", "b NO [BADCHARSET")
	rc.ok("c NOOP")
	rc.ok("u UNSELECT")
	rc.expect("b SORT (DATE) UTF-8 ALL", "b BAD")
}

func TestSortClient(t *testing.T) {
	e := newTestEnv(t)
	sortMailbox(t, e)
	c := e.client(t, nil)
	if !c.Caps().Has(imap.CapSort) {
		t.Errorf("SORT not advertised: %v", c.Caps())
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	got, err := c.Sort(&imapclient.SortOptions{
		SearchCriteria: &imap.SearchCriteria{},
		SortCriteria:   []imapclient.SortCriterion{{Key: imapclient.SortKeySubject}, {Key: imapclient.SortKeyDate, Reverse: true}},
	}).Wait()
	if err != nil || !slices.Equal(got, []uint32{2, 1, 3, 4}) {
		t.Errorf("SORT (SUBJECT REVERSE DATE) = %v, %v", got, err)
	}
	got, err = c.UIDSort(&imapclient.SortOptions{
		SearchCriteria: &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "example"}}},
		SortCriteria:   []imapclient.SortCriterion{{Key: imapclient.SortKeyFrom}},
	}).Wait()
	if err != nil || !slices.Equal(got, []uint32{2, 4, 1, 3}) {
		t.Errorf("UID SORT (FROM) = %v, %v", got, err)
	}
}

// TestSortDisplay checks DISPLAYFROM and DISPLAYTO (RFC 5957 section 2):
// the display name of the first address, its addr-spec when it has none,
// and a group's name.
func TestSortDisplay(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	if u := rc.ok("c CAPABILITY"); !strings.Contains(u[0], " SORT=DISPLAY ") {
		t.Fatalf("capability: %q", u)
	}
	rc.login()
	rc.appendMsg("INBOX", "", testMail("Zach <aaa@x.example>", "=?utf-8?q?=C3=89mile?= <e@x.example>", "", "1", "", "", "", 1))
	rc.appendMsg("INBOX", "", testMail("mike@x.example", "Bert <zz@x.example>", "", "2", "", "", "", 1))
	rc.appendMsg("INBOX", "", testMail(`"" <nina@x.example>`, "Crew: a@x.example;", "", "3", "", "", "", 1))
	rc.appendMsg("INBOX", "", testMail("adam@x.example (Comment Name)", "", "", "4", "", "", "", 1))
	rc.ok("s SELECT INBOX")
	for _, tc := range []struct{ cmd, want string }{
		// "Comment Name", "mike@", "nina@", "Zach"
		{"SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 4 2 3 1"},
		{"SORT (REVERSE DISPLAYFROM) UTF-8 ALL", "* SORT 1 3 2 4"},
		// "", "Bert", "Crew", "Émile" (8-bit after ASCII)
		{"SORT (DISPLAYTO) UTF-8 ALL", "* SORT 4 2 3 1"},
		{"SORT (DISPLAYTO FROM) UTF-8 ALL", "* SORT 4 2 3 1"},
		{"UID SORT (DISPLAYFROM) UTF-8 1:3", "* SORT 2 3 1"},
	} {
		if u := rc.ok("a " + tc.cmd); len(u) != 1 || u[0] != tc.want {
			t.Errorf("%s = %q, want %q", tc.cmd, u, tc.want)
		}
	}
	rc.expect("b SORT (DISPLAYCC) UTF-8 ALL", "b BAD")
}
