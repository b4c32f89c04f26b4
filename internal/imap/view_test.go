package imap

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// viewModel is what a client knows of its selected mailbox, built only
// from the server's responses: the count of messages, and for each
// sequence number its UID when a response told it. check applies one
// untagged response and reports any that refers past the view or
// contradicts it.
type viewModel struct {
	uids []uint32 // uids[i] is the UID of sequence number i+1; 0 when not told yet
}

func (m *viewModel) check(line string) error {
	f := strings.Fields(line)
	if len(f) < 3 || f[0] != "*" {
		return nil
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		if f[1] == "VANISHED" {
			return m.vanished(f[len(f)-1], f[2] == "(EARLIER)")
		}
		return nil
	}
	switch f[2] {
	case "EXISTS":
		if n < len(m.uids) {
			return fmt.Errorf("%q: EXISTS below the %d messages known, without EXPUNGE", line, len(m.uids))
		}
		m.uids = append(m.uids, make([]uint32, n-len(m.uids))...)
	case "EXPUNGE":
		if n < 1 || n > len(m.uids) {
			return fmt.Errorf("%q: sequence number outside the %d messages known", line, len(m.uids))
		}
		m.uids = append(m.uids[:n-1], m.uids[n:]...)
	case "FETCH":
		if n < 1 || n > len(m.uids) {
			return fmt.Errorf("%q: sequence number outside the %d messages known", line, len(m.uids))
		}
		if i := strings.Index(line, "UID "); i >= 0 {
			var uid uint32
			fmt.Sscanf(line[i+4:], "%d", &uid)
			if m.uids[n-1] != 0 && m.uids[n-1] != uid {
				return fmt.Errorf("%q: sequence number %d was UID %d", line, n, m.uids[n-1])
			}
			m.uids[n-1] = uid
			for j := range m.uids {
				if j != n-1 && m.uids[j] != 0 && (j < n-1 && m.uids[j] >= uid || j > n-1 && m.uids[j] <= uid) {
					return fmt.Errorf("%q: UIDs out of order with sequence number %d (UID %d)", line, j+1, m.uids[j])
				}
			}
		}
	}
	return nil
}

// vanished removes the UIDs of a VANISHED response (RFC 7162 section
// 3.2.10), which must be known unless EARLIER.
func (m *viewModel) vanished(set string, earlier bool) error {
	for _, r := range strings.Split(set, ",") {
		a, b, _ := strings.Cut(r, ":")
		first, _ := strconv.Atoi(a)
		last := first
		if b != "" {
			last, _ = strconv.Atoi(b)
		}
		for uid := first; uid <= last; uid++ {
			i := -1
			for j, u := range m.uids {
				if u == uint32(uid) {
					i = j
				}
			}
			if i < 0 && !earlier {
				// The client may know the message by its sequence
				// number only: it is one of those between the known
				// UIDs around it, since UIDs ascend with sequence
				// numbers.
				for j, u := range m.uids {
					if u > uint32(uid) {
						break
					}
					if u == 0 {
						i = j
					} else {
						i = -1 // a known UID below: the gap starts after it
					}
				}
				if i < 0 {
					return fmt.Errorf("VANISHED %s: UID %d not in the view", set, uid)
				}
			}
			if i < 0 {
				continue
			}
			m.uids = append(m.uids[:i], m.uids[i+1:]...)
		}
	}
	return nil
}

// checked runs a command and checks each untagged response against the
// model.
func (m *viewModel) checked(t *testing.T, rc *rawConn, line string) []string {
	t.Helper()
	u := rc.ok(line)
	for _, l := range u {
		if err := m.check(l); err != nil {
			t.Fatalf("%s: %v\nall responses:\n%s", line, err, strings.Join(u, "\n"))
		}
	}
	return u
}

// TestExpungeOfUnannounced checks that a message added and expunged by
// others between two updates is never announced as expunged: the session
// never knew it, and its sequence number would lie past the client's view.
func TestExpungeOfUnannounced(t *testing.T) {
	e := newTestEnv(t)
	a, b := e.raw(t), e.raw(t)
	a.login()
	b.login()
	a.appendMsg("INBOX", "", simpleMsg)
	var m viewModel
	m.checked(t, a, "s SELECT INBOX")
	b.ok("s SELECT INBOX")
	b.appendMsg("INBOX", `\Deleted`, simpleMsg)
	b.ok("x EXPUNGE")
	u := m.checked(t, a, "n NOOP")
	if len(u) != 0 {
		t.Fatalf("updates about a message never announced: %q", u)
	}
}

// TestConcurrentAppendExpunge runs APPEND and EXPUNGE from two sessions at
// once while four others keep their views up to date, three of them told
// of changes between commands by NOTIFY (RFC 5465), one of those with
// UIDONLY (RFC 9586), and checks every untagged response each session
// receives against a model of its view.
func TestConcurrentAppendExpunge(t *testing.T) {
	e := newTestEnv(t)
	for _, qresync := range []bool{false, true} {
		t.Run(fmt.Sprintf("qresync=%v", qresync), func(t *testing.T) {
			const rounds = 40
			var wg sync.WaitGroup
			errs := make(chan error, 6)
			for w := range 6 {
				rc := e.raw(t)
				rc.login()
				if qresync {
					rc.ok("e ENABLE QRESYNC")
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					var m viewModel
					run := func(line string) bool {
						tag, _, _ := strings.Cut(line, " ")
						rc.send(line + "\r\n")
						for {
							l, err := rc.r.ReadString('\n')
							if err != nil {
								errs <- fmt.Errorf("session %d, %s: %v", w, line, err)
								return false
							}
							l = strings.TrimSuffix(l, "\r\n")
							if strings.HasPrefix(l, tag+" ") {
								if !strings.HasPrefix(l, tag+" OK") {
									errs <- fmt.Errorf("session %d, %s: %s", w, line, l)
									return false
								}
								return true
							}
							if err := m.check(l); err != nil {
								errs <- fmt.Errorf("session %d, %s: %v", w, line, err)
								return false
							}
						}
					}
					if w == 5 && !run("u ENABLE UIDONLY") {
						return
					}
					if !run("s SELECT INBOX") {
						return
					}
					switch w {
					case 3:
						if !run("n NOTIFY SET (selected-delayed (MessageNew (UID FLAGS) MessageExpunge FlagChange))") {
							return
						}
					case 4, 5:
						if !run("n NOTIFY SET (selected (MessageNew (UID) MessageExpunge))") {
							return
						}
					}
					for i := range rounds {
						msg := fmt.Sprintf("{%d+}\r\n%s", len(simpleMsg), simpleMsg)
						var ok bool
						switch w {
						case 0:
							ok = run("a APPEND INBOX " + msg)
						case 1:
							ok = run(`a APPEND INBOX (\Deleted) `+msg) && run("x EXPUNGE")
						case 4, 5:
							// Expunges may come at any time: UIDs only.
							ok = run("f UID FETCH 1:* (FLAGS)")
						default:
							ok = run("n NOOP") && (i%2 == 0 || len(m.uids) == 0 || run(`f FETCH 1:* (UID FLAGS)`))
						}
						if !ok {
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}
