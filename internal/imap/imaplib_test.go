package imap

import (
	"net"
	"os/exec"
	"testing"
)

// imaplibScript sorts and threads the mailbox of threadMailbox with
// Python's imaplib, a client written by other hands.
const imaplibScript = `
import imaplib, sys
host, port, user, password = sys.argv[1:5]
m = imaplib.IMAP4(host, int(port))
m.login(user, password)
m.select('INBOX')
print('SORT', m.sort('(REVERSE DATE)', 'UTF-8', 'ALL'))
print('UIDSORT', m.uid('SORT', '(SUBJECT)', 'UTF-8', 'SINCE', '1-Jan-2000'))
print('THREAD', m.thread('REFERENCES', 'UTF-8', 'ALL'))
print('UIDTHREAD', m.uid('THREAD', 'ORDEREDSUBJECT', 'UTF-8', 'ALL'))
m.logout()
`

func TestImaplibSortThread(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	e := newTestEnv(t)
	threadMailbox(t, e)
	host, port, _ := net.SplitHostPort(e.addr)
	out, err := exec.CommandContext(t.Context(), python, "-c", imaplibScript, host, port, testUser, testPass).CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	want := `SORT ('OK', [b'9 8 7 6 5 3 2 4 1'])
UIDSORT ('OK', [b'8 9 1 2 3 5 7 4 6'])
THREAD ('OK', [b'(1 (2 3)(5))((4)(6))(7)(9 8)'])
UIDTHREAD ('OK', [b'(1 (2)(3)(5))(4 6)(7)(8 9)'])
`
	if string(out) != want {
		t.Errorf("imaplib output:\n%s\nwant:\n%s", out, want)
	}
}
