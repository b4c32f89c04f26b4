package imap

import (
	"strings"
	"testing"
)

// TestMultiSearch checks ESEARCH across mailboxes (RFC 7377): one
// response per mailbox with matches, in UIDs, named by MAILBOX and
// UIDVALIDITY.
func TestMultiSearch(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	if u := rc.ok("c CAPABILITY"); !strings.Contains(u[0], " MULTISEARCH ") {
		t.Fatalf("capability: %q", u)
	}
	rc.login()
	for _, name := range []string{"Work", "Work/Sub", "Work/Sub/Deep", "Other"} {
		rc.ok("c CREATE " + name)
	}
	rc.ok("u SUBSCRIBE Other")
	hit := strings.Replace(simpleMsg, "Hello there", "needle", 1)
	for _, mb := range []string{"INBOX", "Work", "Work/Sub", "Work/Sub/Deep", "Other"} {
		rc.appendMsg(mb, "", simpleMsg)
		rc.appendMsg(mb, `\Flagged`, hit)
	}
	validity := map[string]string{}
	for _, mb := range []string{"INBOX", "Work", "Work/Sub", "Work/Sub/Deep", "Other"} {
		u := rc.ok(`s STATUS "` + mb + `" (UIDVALIDITY)`)
		_, v, _ := strings.Cut(u[0], "UIDVALIDITY ")
		validity[mb] = strings.TrimSuffix(v, ")")
	}
	resp := func(tag, mb, data string) string {
		return `* ESEARCH (TAG "` + tag + `" MAILBOX ` + mb + ` UIDVALIDITY ` + validity[mb] + `) UID ` + data
	}
	for _, tc := range []struct {
		cmd  string
		want []string
	}{
		{`a ESEARCH IN (mailboxes Work) SUBJECT needle`, []string{resp("a", "Work", "ALL 2")}},
		{`a ESEARCH IN (mailboxes (Work Other Nonexistent)) RETURN (COUNT) FLAGGED`,
			[]string{resp("a", "Work", "COUNT 1"), resp("a", "Other", "COUNT 1")}},
		{`a ESEARCH IN (subtree-one Work) RETURN (MIN MAX) ALL`,
			[]string{resp("a", "Work", "MIN 1 MAX 2"), resp("a", "Work/Sub", "MIN 1 MAX 2")}},
		{`a ESEARCH IN (subtree "Work/Sub") SUBJECT needle`,
			[]string{resp("a", "Work/Sub", "ALL 2"), resp("a", "Work/Sub/Deep", "ALL 2")}},
		{`a ESEARCH IN (inboxes subscribed) CHARSET UTF-8 SUBJECT needle`,
			[]string{resp("a", "INBOX", "ALL 2"), resp("a", "Other", "ALL 2")}},
		{`a ESEARCH IN (personal) SUBJECT nothing-matches`, nil},
		{`a ESEARCH IN (personal) UID 2 NOT FLAGGED`, nil},
	} {
		u := rc.ok(tc.cmd)
		if strings.Join(u, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", tc.cmd, u, tc.want)
		}
	}
	rc.expect("b ESEARCH ALL", "b BAD")                                    // nothing selected
	rc.expect("b ESEARCH IN (mailboxes INBOX) RETURN (SAVE) ALL", "b BAD") // RFC 7377 section 2
	rc.expect("b ESEARCH IN (elsewhere) ALL", "b BAD")
	rc.expect("b ESEARCH IN (personal (DEPTH 1)) ALL", "b BAD")

	rc.ok("s SELECT Work")
	if u := rc.ok("a ESEARCH SUBJECT needle"); len(u) != 1 || u[0] != resp("a", "Work", "ALL 2") {
		t.Errorf("ESEARCH in the selected mailbox: %q", u)
	}
	if u := rc.ok("a ESEARCH IN (selected) 2"); len(u) != 1 || u[0] != resp("a", "Work", "ALL 2") {
		t.Errorf("ESEARCH by sequence number: %q", u)
	}
	rc.expect("b ESEARCH IN (selected mailboxes Other) 1", "b BAD")
	u := rc.ok("a ESEARCH IN (mailboxes Other) MODSEQ 1 FLAGGED")
	if len(grep(u, resp("a", "Other", "ALL 2 MODSEQ "))) != 1 {
		t.Errorf("ESEARCH MODSEQ: %q", u)
	}
}
