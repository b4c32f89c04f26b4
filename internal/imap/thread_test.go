package imap

import (
	"reflect"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// threadMailbox fills INBOX with a conversation, a reply to a message
// that is missing, two unrelated messages with one subject, a duplicate
// Message-ID and a reference loop.
func threadMailbox(t *testing.T, e *testEnv) *rawConn {
	rc := e.raw(t)
	rc.login()
	for _, m := range []struct{ subject, date, id, refs string }{
		{"Lunch", "01 Jan 2020 00:00", "<a@x>", ""},
		{"Re: Lunch", "02 Jan 2020 00:00", "<b@x>", "<a@x>"},
		{"Re: Lunch", "03 Jan 2020 00:00", "<c@x>", "<a@x> <b@x>"},
		{"Other", "01 Jan 2020 12:00", "<d@x>", ""},
		{"Re: lunch", "04 Jan 2020 00:00", "<e@x>", "<missing@x>"},
		{"other", "05 Jan 2020 00:00", "<f@x>", ""},
		{"Lunch again", "06 Jan 2020 00:00", "<a@x>", ""},
		{"Loop", "07 Jan 2020 00:00", "<g@x>", "<h@x>"},
		{"Loop", "08 Jan 2020 00:00", "<h@x>", "<g@x>"},
	} {
		rc.appendMsg("INBOX", "", testMail("a@x.example", "", "", m.subject, m.date+":00 +0000", m.id, m.refs, 10))
	}
	rc.ok("s SELECT INBOX")
	return rc
}

func TestThread(t *testing.T) {
	e := newTestEnv(t)
	rc := threadMailbox(t, e)
	if u := rc.ok("c CAPABILITY"); !strings.Contains(u[0], " THREAD=REFERENCES") || !strings.Contains(u[0], " THREAD=ORDEREDSUBJECT") {
		t.Errorf("capability = %q", u)
	}
	for _, tc := range []struct{ cmd, want string }{
		// 5 replies to a missing message: subject gathering makes it a
		// child of 1; 4 and 6 share a subject under a dummy; 7 has a
		// duplicate Message-ID and is on its own; 8 and 9 refer to each
		// other and the loop is broken.
		{"THREAD REFERENCES UTF-8 ALL", "* THREAD (1 (2 3)(5))((4)(6))(7)(9 8)"},
		{"THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (1 (2)(3)(5))(4 6)(7)(8 9)"},
		{"THREAD references US-ASCII 2:4", "* THREAD (4)(2 3)"},
		{"UID THREAD REFERENCES UTF-8 UID 4:6", "* THREAD ((4)(6))(5)"},
		{"THREAD REFERENCES UTF-8 SUBJECT nothing", "* THREAD"},
	} {
		u := rc.ok("a " + tc.cmd)
		if len(u) != 1 || u[0] != tc.want {
			t.Errorf("%s = %q, want %q", tc.cmd, u, tc.want)
		}
	}
	rc.expect("b THREAD JWZ UTF-8 ALL", "b BAD")
	rc.expect("b THREAD REFERENCES KOI8-R ALL", "b NO [BADCHARSET")
	rc.expect("b THREAD REFERENCES UTF-8", "b BAD")
}

func TestThreadClient(t *testing.T) {
	e := newTestEnv(t)
	threadMailbox(t, e)
	c := e.client(t, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	got, err := c.UIDThread(&imapclient.ThreadOptions{Algorithm: imap.ThreadReferences, SearchCriteria: &imap.SearchCriteria{}}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	want := []imapclient.ThreadData{
		{Chain: []uint32{1}, SubThreads: []imapclient.ThreadData{{Chain: []uint32{2, 3}}, {Chain: []uint32{5}}}},
		{SubThreads: []imapclient.ThreadData{{Chain: []uint32{4}}, {Chain: []uint32{6}}}},
		{Chain: []uint32{7}},
		{Chain: []uint32{9, 8}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("UID THREAD REFERENCES = %+v\nwant %+v", got, want)
	}
}
