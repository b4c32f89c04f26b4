package imap

import (
	"fmt"
	"strings"
	"testing"

	"casella/internal/store"
)

// TestMetadata checks GETMETADATA and SETMETADATA (RFC 5464) on the
// server and on a mailbox: values set, read with DEPTH and MAXSIZE, and
// removed, names checked, limits answered with their response codes.
func TestMetadata(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	rc.ok(`a SETMETADATA "" (/shared/comment "Server note" /private/vendor/casella/theme "dark")`)
	rc.ok("b SETMETADATA INBOX (/private/comment {5+}\r\nhello /shared/comment ~{3+}\r\na\x00b)")
	if u := rc.ok(`c GETMETADATA "" /shared/comment`); strings.Join(u, "\n") != `* METADATA "" (/shared/comment "Server note")` {
		t.Fatalf("server entry: %q", u)
	}
	if u := rc.ok(`d GETMETADATA INBOX (/private/comment /shared/comment /private/missing)`); strings.Join(u, "\n") !=
		"* METADATA INBOX (/private/comment \"hello\" /shared/comment ~{3}a\x00b /private/missing NIL)" {
		t.Fatalf("mailbox entries: %q", u)
	}
	if u := rc.ok(`e GETMETADATA (DEPTH infinity) "" /private`); strings.Join(u, "\n") != `* METADATA "" (/private/vendor/casella/theme "dark")` {
		t.Fatalf("depth infinity: %q", u)
	}
	if u := rc.ok(`f GETMETADATA (DEPTH 1) "" /private/vendor`); strings.Join(u, "\n") != `* METADATA "" (/private/vendor NIL)` {
		t.Fatalf("depth 1 reaches one level only: %q", u)
	}
	u, tagged := rc.cmd(`g GETMETADATA (MAXSIZE 4) INBOX (/private/comment /shared/comment)`)
	if strings.Join(u, "\n") != "* METADATA INBOX (/shared/comment ~{3}a\x00b)" || tagged != "g OK [METADATA LONGENTRIES 5] GETMETADATA completed" {
		t.Fatalf("maxsize: %q %q", u, tagged)
	}
	rc.ok("h SETMETADATA INBOX (/private/comment NIL)")
	if u := rc.ok(`i GETMETADATA INBOX /private/comment`); u[0] != "* METADATA INBOX (/private/comment NIL)" {
		t.Fatalf("after removal: %q", u)
	}

	rc.expect(`j SETMETADATA INBOX (/comment "x")`, "j BAD")
	rc.expect(`j GETMETADATA INBOX /private/a*`, "j BAD")
	rc.expect(`k SETMETADATA Nowhere (/private/comment "x")`, "k NO [NONEXISTENT]")
	rc.expect(fmt.Sprintf("l SETMETADATA INBOX (/private/big {%d}", store.MaxMetadataValue+1), fmt.Sprintf("l NO [METADATA MAXSIZE %d]", store.MaxMetadataValue))
	var many []string
	for i := range store.MaxMetadataEntries + 1 {
		many = append(many, fmt.Sprintf("/private/e%d \"x\"", i))
	}
	rc.expect("m SETMETADATA INBOX ("+strings.Join(many, " ")+")", "m NO [METADATA TOOMANY]")
	rc.expect("n SETMETADATA INBOX ("+strings.Join(many[1:], " ")+")", "n NO [METADATA TOOMANY]") // with /shared/comment
	if u := rc.ok("o CAPABILITY"); strings.Count(u[0], " METADATA") != 1 {
		t.Fatalf("capability: %q", u)
	}
}
