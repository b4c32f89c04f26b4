package e2e

import (
	"strings"
	"testing"
)

// imapConformScript drives the real server with Python's imaplib through
// the cases of issue 18 that a client written by other hands sees: group
// markers, routes and comments in ENVELOPE, searching and sorting by a
// group, NUL only in BINARY, NO for a name that is not modified UTF-7,
// HIGHESTMODSEQ on the first CONDSTORE command, and the extensions
// PREVIEW, SORT=DISPLAY, MULTISEARCH, CATENATE and CONTEXT=SEARCH.
const imapConformScript = `
import imaplib, json, socket, sys
port, user, pw = sys.argv[1], sys.argv[2], sys.argv[3]
imaplib.Commands["ESEARCH"] = ("AUTH", "SELECTED")  # RFC 7377, unknown to imaplib
c = imaplib.IMAP4("127.0.0.1", int(port))
c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
c.login(user, pw)
out = {"caps": list(c.capabilities)}

def s(data):
    parts = []
    for d in data:
        if isinstance(d, tuple):
            parts.append(b"".join(d))
        elif d is not None:
            parts.append(d)
    return b"|".join(parts).decode("latin-1")

def ok(typ, data):
    assert typ == "OK", (typ, data)
    return s(data)

groups = (b"From: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\r\n"
          b"To: A Group: Ed Jones <c@a.test>, joe@where.test;, group2: (foo) ;\r\n"
          b"Cc: Routed <@relay.test:rob@dest.test>\r\n"
          b"Subject: groups\r\n\r\nHello group members\r\n")
plain = b"From: Zed <aaa@b.test>\r\nTo: bob@b.test\r\nSubject: plain\r\n\r\nplain text\r\n"
binary = (b"From: x@y.test\r\nSubject: binary\r\nMIME-Version: 1.0\r\n"
          b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\ntext\r\n"
          b"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
          b"a\x00b\x00c\r\n--b--\r\n")
for m in (groups, plain, binary):
    ok(*c.append("INBOX", None, None, m))

ok(*c.select("INBOX"))
c.response("HIGHESTMODSEQ")  # what SELECT said
out["envelope"] = ok(*c.fetch("1", "(ENVELOPE)"))
out["body2"] = ok(*c.fetch("3", "(BODY.PEEK[2])"))
out["binary2"] = ok(*c.fetch("3", "(BINARY.PEEK[2])"))
out["preview"] = ok(*c.fetch("1", "(PREVIEW)"))
out["search_group"] = ok(*c.search(None, "TO", '"A Group"'))
out["search_comment"] = ok(*c.search(None, "FROM", "chap"))
out["sort_to"] = ok(*c.sort("(TO)", "UTF-8", "ALL"))
out["sort_displayfrom"] = ok(*c.sort("(DISPLAYFROM)", "UTF-8", "ALL"))
typ, data = c.create('"&Jjo"')
out["bad_utf7"] = typ
ok(*c.fetch("1", "(MODSEQ)"))
out["highestmodseq"] = s(c.response("HIGHESTMODSEQ")[1])
typ, data = c._simple_command("ESEARCH", "IN", "(personal)", "SUBJECT", "plain")
ok(typ, data)
out["esearch"] = s(c.response("ESEARCH")[1])
typ, data = c._simple_command("UID", "SEARCH", "RETURN", "(PARTIAL", "2:3)", "ALL")
ok(typ, data)
out["partial"] = s(c.response("ESEARCH")[1])
typ, data = c._simple_command("APPEND", "Drafts", "CATENATE",
    '(URL "/INBOX/;UID=2/;SECTION=HEADER" URL "/INBOX/;UID=1/;SECTION=TEXT")')
out["catenate"] = ok(typ, data)
ok(*c.select("Drafts"))
out["catenated"] = ok(*c.fetch("1", "(BODY.PEEK[])"))
c.logout()
print(json.dumps(out))
`

// TestIMAPConformance runs imapConformScript against the real binary.
func TestIMAPConformance(t *testing.T) {
	need(t, "python3")
	data, config := newData(t, "")
	s := startServer(t, data, config)
	const user, pass = "conform@example.test", "conform-secret-1"
	setupAccount(t, s, user, pass)
	out := python(t, imapConformScript, s.port("imap"), user, pass)
	var res map[string]any
	if err := jsonUnmarshal(out, &res); err != nil {
		t.Fatalf("imaplib output %q: %v", out, err)
	}
	caps := ""
	for _, c := range res["caps"].([]any) {
		caps += " " + c.(string)
	}
	for _, want := range []string{"PREVIEW", "SORT=DISPLAY", "MULTISEARCH", "CATENATE", "CONTEXT=SEARCH", "CONTEXT=SORT"} {
		if !strings.Contains(caps+" ", " "+want+" ") {
			t.Errorf("capability %s missing from%s", want, caps)
		}
	}
	get := func(k string) string { v, _ := res[k].(string); return v }
	for _, tc := range []struct{ key, want string }{
		{"envelope", `"groups" (("Pete" NIL "pete" "silly.test"))`},
		{"envelope", `((NIL NIL "A Group" NIL)("Ed Jones" NIL "c" "a.test")(NIL NIL "joe" "where.test")(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL NIL NIL))`},
		{"envelope", `(("Routed" "@relay.test" "rob" "dest.test"))`},
		{"body2", "a\u0080b\u0080c"}, // 0x80, read as Latin-1
		{"binary2", "a\x00b\x00c"},
		{"preview", `PREVIEW "Hello group members"`},
		{"search_group", "1"},
		{"sort_to", "3 1 2"}, // "", "a group", "bob"
		{"sort_displayfrom", "1 3 2"},
		{"bad_utf7", "NO"},
		{"esearch", `MAILBOX INBOX`},
		{"esearch", `UID ALL 2`},
		{"partial", `UID PARTIAL (2:3 2:3)`},
		{"catenate", "APPENDUID"},
		{"catenated", "Subject: plain\r\n\r\nHello group members"},
	} {
		if !strings.Contains(get(tc.key), tc.want) {
			t.Errorf("%s = %q, want it to contain %q", tc.key, get(tc.key), tc.want)
		}
	}
	if strings.Contains(get("body2"), "\x00") {
		t.Errorf("BODY[2] carries a NUL: %q", get("body2"))
	}
	if get("search_comment") != "" {
		t.Errorf("FROM chap found %q in a comment", get("search_comment"))
	}
	if get("highestmodseq") == "" {
		t.Error("FETCH MODSEQ sent no OK [HIGHESTMODSEQ]")
	}
}
