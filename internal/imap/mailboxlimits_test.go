package imap

import (
	"strings"
	"testing"
)

// TestMailboxLimits: mailboxes per account, name depth and length, and
// keywords per mailbox are bounded, with NO [LIMIT].
func TestMailboxLimits(t *testing.T) {
	e := newTestEnv(t, func(s *Server) {
		s.MaxMailboxes, s.MaxMailboxDepth, s.MaxMailboxName, s.MaxKeywords = 10, 3, 30, 3
	})
	rc := e.raw(t)
	rc.login() // six mailboxes to begin with: INBOX, Sent, Drafts, Trash, Junk, Archive
	rc.expect("a CREATE a/b/c/d", "a NO [LIMIT] Mailbox name has 4 levels, more than the 3 allowed")
	rc.expect("b CREATE "+strings.Repeat("x", 31), "b NO [LIMIT] Mailbox name of 31 bytes")
	rc.ok("c CREATE a/b/c") // three new mailboxes: nine
	rc.expect("d CREATE e/f", "d NO [LIMIT] The account has 9 mailboxes, the most allowed is 10")
	rc.ok("e CREATE e")
	rc.expect("f CREATE g", "f NO [LIMIT] The account has 10 mailboxes")
	rc.expect("g RENAME a x/y/z", "g NO [LIMIT] Mailbox name has 4 levels") // x/y/z/b
	rc.expect("h RENAME e a/b/c/e", "h NO [LIMIT] Mailbox name has 4 levels")
	rc.ok("i RENAME e a/e")
	rc.ok("j DELETE a/e")

	rc.appendMsg("INBOX", "$One", simpleMsg)
	rc.appendMsg("INBOX", "$two", simpleMsg)
	rc.ok("k SELECT INBOX")
	rc.ok("l STORE 1 +FLAGS ($ONE $Two \\Seen)") // known, in another case
	rc.ok("m STORE 1:2 +FLAGS ($three)")
	rc.expect("n STORE 1 +FLAGS ($four)", "n NO [LIMIT] A mailbox may use at most 3 different keywords")
	rc.expect(`o APPEND INBOX ($five) {5+}`+"\r\nhello", "o NO [LIMIT]")
	rc.ok("p STORE 2 FLAGS ($one $three)")
	rc.ok("q STORE 1:2 -FLAGS ($two)")
	// $two is used nowhere now: room for one more.
	rc.ok("r STORE 1 +FLAGS ($four)")
}
