package blast

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// sessionTimeout bounds one probing session, so that a hung node shows
// as a failure instead of stopping the drill.
const sessionTimeout = 60 * time.Second

// SessionCheck logs in as user over IMAP on imapAddr and runs SELECT,
// FETCH of the newest message, NOOP and LOGOUT, then does the same over
// POP3 on pop3Addr (POP3Check). It returns the number of commands
// answered OK and the first failure.
func SessionCheck(imapAddr, pop3Addr, user, password string) (ok int, err error) {
	ok, err = imapCheck(imapAddr, user, password)
	if err != nil {
		return ok, err
	}
	n, err := POP3Check(pop3Addr, user, password)
	return ok + n, err
}

func imapCheck(addr, user, password string) (ok int, err error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, fmt.Errorf("imap dial: %w", err)
	}
	conn.SetDeadline(time.Now().Add(sessionTimeout))
	cl := imapclient.New(conn, nil)
	defer cl.Close()
	if err := cl.Login(user, password).Wait(); err != nil {
		return ok, fmt.Errorf("imap login: %w", err)
	}
	ok++
	sel, err := cl.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return ok, fmt.Errorf("imap select: %w", err)
	}
	ok++
	if sel.NumMessages > 0 {
		var seq imap.SeqSet
		seq.AddNum(sel.NumMessages)
		section := &imap.FetchItemBodySection{Peek: true}
		if _, err := cl.Fetch(seq, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect(); err != nil {
			return ok, fmt.Errorf("imap fetch: %w", err)
		}
		ok++
	}
	if err := cl.Noop().Wait(); err != nil {
		return ok, fmt.Errorf("imap noop: %w", err)
	}
	ok++
	if err := cl.Logout().Wait(); err != nil {
		return ok, fmt.Errorf("imap logout: %w", err)
	}
	return ok + 1, nil
}

// POP3Check runs USER, PASS, STAT, LIST, RETR of the last message and
// QUIT on addr. It returns the number of commands answered +OK and the
// first reply that is not.
func POP3Check(addr, user, password string) (ok int, err error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, fmt.Errorf("pop3 dial: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(sessionTimeout))
	r := bufio.NewReader(conn)
	line := func() (string, error) {
		l, err := r.ReadString('\n')
		return strings.TrimRight(l, "\r\n"), err
	}
	multi := func() error {
		for {
			l, err := line()
			if err != nil {
				return err
			}
			if l == "." {
				return nil
			}
		}
	}
	cmd := func(c string) (string, error) {
		if c != "" {
			if _, err := fmt.Fprintf(conn, "%s\r\n", c); err != nil {
				return "", err
			}
		}
		l, err := line()
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(l, "+OK") {
			name, _, _ := strings.Cut(c, " ")
			return "", fmt.Errorf("pop3 %q: %s", name, l)
		}
		if c != "" {
			ok++
		}
		return l, nil
	}
	if _, err := cmd(""); err != nil {
		return ok, err
	}
	for _, c := range []string{"USER " + user, "PASS " + password} {
		if _, err := cmd(c); err != nil {
			return ok, err
		}
	}
	stat, err := cmd("STAT")
	if err != nil {
		return ok, err
	}
	var n int
	fmt.Sscanf(stat, "+OK %d", &n)
	if _, err := cmd("LIST"); err != nil {
		return ok, err
	}
	if err := multi(); err != nil {
		return ok, err
	}
	if n > 0 {
		if _, err := cmd(fmt.Sprintf("RETR %d", n)); err != nil {
			return ok, err
		}
		if err := multi(); err != nil {
			return ok, err
		}
	}
	_, err = cmd("QUIT")
	return ok, err
}

// Temporary reports whether a session's failure is one of the temporary
// answers: IMAP NO [UNAVAILABLE], POP3 -ERR [SYS/TEMP].
func Temporary(err error) bool {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie.Code == imap.ResponseCodeUnavailable
	}
	return strings.Contains(err.Error(), "[SYS/TEMP]")
}
