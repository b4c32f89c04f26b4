// Package blast implements the blast-radius drill of a Casella cluster:
// SMTP load to accounts of two cells through every node while one cell's
// storage fails, sessions of both cells probed over IMAP and POP3 during
// the outage, and every mailbox read back over IMAP to check that each
// accepted message was delivered exactly once, byte for byte (DESIGN.md
// invariants 1-3, issue 17). "casella drill --cluster" runs it on a local
// cluster it starts (Run); the e2e tests use its pieces (Load,
// SessionCheck, Check) on clusters of their own.
//
// Implementation notes:
//   - The drill is a client: it reaches the nodes only through SMTP,
//     IMAP, POP3 and /api/status, so what it sees is what users see.
//   - A message whose connection broke before the reply may or may not
//     have been accepted; it may be delivered, but at most once.
//   - A cell whose storage is down must answer its sessions with the
//     temporary errors (IMAP NO [UNAVAILABLE], RFC 5530 section 3; POP3
//     -ERR [SYS/TEMP], RFC 3206 section 4), never a wrong answer; the
//     other cell must notice nothing.
package blast

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// Result is how one message of the load ended.
type Result struct {
	ID   string // the left side of its Message-ID
	Rcpt string
	Data []byte
	Code int // 250, or the SMTP error code; 0 for a broken connection
	Err  error
}

// Compose makes message i of a load for rcpt; id must be the left side
// of the message's Message-ID, unique in the load.
type Compose func(i int64, rcpt string) (id string, data []byte)

// LoadSpec describes a load.
type LoadSpec struct {
	SMTP        []string // host:port of each node's inbound SMTP listener
	From        string   // envelope sender
	Rcpts       []string // recipients, one per message, in turn
	Connections int      // spread over the nodes in turn
	Max         int64    // messages to send; 0 sends until stopped
	Compose     Compose
}

// Load is a load in progress.
type Load struct {
	spec LoadSpec
	seq  atomic.Int64
	mu   sync.Mutex
	out  []Result
}

// NewLoad returns a load that Run sends.
func NewLoad(spec LoadSpec) *Load { return &Load{spec: spec} }

// Started returns the number of messages the load has begun to send.
func (l *Load) Started() int64 {
	n := l.seq.Load()
	if l.spec.Max > 0 {
		n = min(n, l.spec.Max)
	}
	return n
}

// Run sends messages to the recipients in turn, through the nodes in
// turn, until Max are sent or stop is closed, and returns every result.
func (l *Load) Run(stop <-chan struct{}) []Result {
	var wg sync.WaitGroup
	for k := range l.spec.Connections {
		wg.Go(func() { l.conn(l.spec.SMTP[k%len(l.spec.SMTP)], stop) })
	}
	wg.Wait()
	return l.out
}

// conn sends messages over one connection to addr, dialling again when
// the connection breaks.
func (l *Load) conn(addr string, stop <-chan struct{}) {
	var cl *smtp.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for {
		select {
		case <-stop:
			return
		default:
		}
		if cl == nil {
			var err error
			if cl, err = smtp.Dial(addr); err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
		}
		i := l.seq.Add(1)
		if l.spec.Max > 0 && i > l.spec.Max {
			return
		}
		rcpt := l.spec.Rcpts[int(i)%len(l.spec.Rcpts)]
		id, data := l.spec.Compose(i, rcpt)
		r := Result{ID: id, Rcpt: rcpt, Data: data, Code: 250}
		if err := Send(cl, l.spec.From, []string{rcpt}, data); err != nil {
			r.Err = err
			var se *smtp.SMTPError
			if errors.As(err, &se) {
				r.Code = se.Code
				cl.Reset()
			} else {
				r.Code = 0
				cl.Close()
				cl = nil
			}
		}
		l.mu.Lock()
		l.out = append(l.out, r)
		l.mu.Unlock()
	}
}

// Send sends one message over c and returns the error of the first reply
// that is not a success.
func Send(c *smtp.Client, from string, to []string, data []byte) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	return w.Close()
}
