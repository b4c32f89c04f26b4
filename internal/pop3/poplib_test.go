package pop3

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// poplibScript drives the server with Python's poplib, an independent
// client implementation. It prints one line per check.
const poplibScript = `
import base64, poplib, ssl, sys

host, port, user, password, cafile, want1, want2 = sys.argv[1:8]
want1 = open(want1, "rb").read()
want2 = open(want2, "rb").read()

def retr(p, n):
    resp, lines, octets = p.retr(n)
    return b"".join(l + b"\r\n" for l in lines)

ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False

p = poplib.POP3(host, int(port), timeout=30)
caps = p.capa()
print("capa", " ".join(sorted(caps)))
p.stls(ctx)
p.user(user)
p.pass_(password)
print("stat", *p.stat())
print("list", *p.list()[1])
print("uidl", *p.uidl()[1])
print("retr1", retr(p, 1) == want1)
print("retr2", retr(p, 2) == want2)
resp, lines, octets = p.top(2, 1)
print("top", lines)
try:
    p.retr(9)
except poplib.error_proto as e:
    print("retr9", e)
p.dele(1)
p.rset()
p.dele(2)
print("quit", p.quit())

p = poplib.POP3(host, int(port), timeout=30)
p.stls(ctx)
ir = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
print("auth", p._shortcmd("AUTH PLAIN " + ir))
print("stat", *p.stat())
p.quit()

p = poplib.POP3(host, int(port), timeout=30)
p.stls(ctx)
p.user(user)
try:
    p.pass_("wrong")
except poplib.error_proto as e:
    print("wrong", e)
p.quit()
`

func TestPoplib(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	e := newMailEnv(t, func(s *Server) { s.AllowPlainLoopback = false })
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	script := write("test.py", []byte(poplibScript))
	ca := write("ca.pem", e.caPEM())
	want1 := write("want1", []byte(msg1))
	want2 := write("want2", []byte(msg2))
	uids := e.inbox(1)
	host, port, _ := strings.Cut(e.addr, ":")
	out, err := exec.Command(python, script, host, port, alice, testPassword, ca, want1, want2).CombinedOutput()
	if err != nil {
		t.Fatalf("poplib: %v\n%s", err, out)
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	want := []string{
		"capa AUTH-RESP-CODE IMPLEMENTATION PIPELINING RESP-CODES STLS TOP UIDL",
		"stat 3 " + itoa(len(msg1)+len(msg2)+len(msg3)),
		"list b'1 " + itoa(len(msg1)) + "' b'2 " + itoa(len(msg2)) + "' b'3 " + itoa(len(msg3)) + "'",
		"uidl b'1 " + e.uidl(1, uids[0]) + "' b'2 " + e.uidl(1, uids[1]) + "' b'3 " + e.uidl(1, uids[2]) + "'",
		"retr1 True",
		"retr2 True",
		"top [b'From: dave@example.net', b'Subject: second', b'', b'line 1']",
		"retr9 b'-ERR no such message, only 3 in maildrop'",
		"quit b'+OK bye, 1 messages deleted'",
		"auth b'+OK maildrop has 2 messages (" + itoa(len(msg1)+len(msg3)) + " octets)'",
		"stat 2 " + itoa(len(msg1)+len(msg3)),
		"wrong b'-ERR [AUTH] invalid user name or password'",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("poplib session:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
