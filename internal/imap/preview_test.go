package imap

import (
	"strings"
	"testing"
)

// TestPreview checks FETCH PREVIEW (RFC 8970 section 3), served from the
// preview stored at delivery.
func TestPreview(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	if u := rc.ok("c CAPABILITY"); !strings.Contains(u[0], " PREVIEW") {
		t.Fatalf("capability: %q", u)
	}
	rc.login()
	rc.appendMsg("INBOX", "", simpleMsg)
	rc.appendMsg("INBOX", "", "Subject: empty\r\n\r\n")
	rc.appendMsg("INBOX", "", multipartMsg)
	rc.ok("s SELECT INBOX")
	for _, tc := range []struct{ cmd, want string }{
		{"f FETCH 1 (PREVIEW)", `* 1 FETCH (PREVIEW "Hi Bob, the quick brown fox.")`},
		// Appended while no session had INBOX selected: recent for this one.
		{"f FETCH 1 (PREVIEW (LAZY) FLAGS)", `* 1 FETCH (PREVIEW "Hi Bob, the quick brown fox." FLAGS (\Recent))`},
		{"f UID FETCH 2 PREVIEW (lazy)", `* 2 FETCH (UID 2 PREVIEW "")`},
		// 8-bit text goes in a literal to a client without UTF-8.
		{"f FETCH 3 (PREVIEW)", "* 3 FETCH (PREVIEW " + lit("Schöne Grüße aus Zürich") + ")"},
	} {
		if u := rc.ok(tc.cmd); len(u) != 1 || u[0] != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.cmd, u, tc.want)
		}
	}
	rc.expect("b FETCH 1 (PREVIEW (FUZZY))", "b BAD")
	rc.expect("b FETCH 1 (PREVIEW ())", "b BAD")
	if u := rc.ok("f FETCH 1 (FLAGS)"); len(u) != 1 || u[0] != `* 1 FETCH (FLAGS (\Recent))` {
		t.Errorf("PREVIEW set a flag: %q", u)
	}
	rc.ok("e ENABLE UTF8=ACCEPT")
	if u := rc.ok("f FETCH 3 (PREVIEW)"); len(u) != 1 || u[0] != `* 3 FETCH (PREVIEW "Schöne Grüße aus Zürich")` {
		t.Errorf("UTF-8 preview: %q", u)
	}
}
