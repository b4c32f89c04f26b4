package imap

import (
	"strings"
	"testing"
)

// TestMailboxLimits: mailboxes per account and the depth and length of
// their names are bounded, with NO [LIMIT].
func TestMailboxLimits(t *testing.T) {
	e := newTestEnv(t, func(s *Server) {
		s.MaxMailboxes, s.MaxMailboxDepth, s.MaxMailboxName = 10, 3, 30
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
}
