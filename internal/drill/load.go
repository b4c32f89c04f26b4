package drill

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// Timeouts of the load's SMTP client. Intake must answer within them even
// while the mailbox store hangs: it only needs the directory and the spool.
const (
	smtpTimeout = 2 * time.Minute
	// reconnectFor is how long a connection keeps trying to reach the
	// server before the load gives up; restarts after a kill take far less.
	reconnectFor = 2 * time.Minute
)

// loadSpec says what a load sends.
type loadSpec struct {
	Addr        string // SMTP listener
	From, To    string // envelope
	Messages    int
	Connections int
	Compose     *composer
}

// load sends Messages messages over Connections SMTP connections, each
// message once, and records every answer. A connection that breaks is
// opened again, so the load goes on across server restarts.
type load struct {
	spec loadSpec
	next atomic.Int64 // index of the next message to send

	sent  []Sent // by message index; a slot is written by one connection only
	tries atomic.Int64
	count [Interrupted + 1]atomic.Int64 // by outcome
}

func newLoad(spec loadSpec) *load {
	return &load{spec: spec, sent: make([]Sent, spec.Messages)}
}

// started returns the number of messages the load has begun to send.
func (l *load) started() int { return int(l.tries.Load()) }

// outcomes returns how many messages got each outcome so far.
func (l *load) outcomes(o Outcome) int { return int(l.count[o].Load()) }

// run sends until every message was tried or ctx ends. It returns an error
// when a connection could not reach the server for reconnectFor.
func (l *load) run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for range l.spec.Connections {
		wg.Go(func() {
			if err := l.connection(ctx); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// connection is one SMTP client of the load.
func (l *load) connection(ctx context.Context) error {
	var c *smtp.Client
	defer func() {
		if c != nil {
			c.Quit()
			c.Close()
		}
	}()
	for ctx.Err() == nil {
		if c == nil {
			var err error
			if c, err = l.dial(ctx); err != nil {
				return err
			}
		}
		i := int(l.next.Add(1) - 1)
		if i >= l.spec.Messages {
			return nil
		}
		l.tries.Add(1)
		msg := l.spec.Compose.message(i)
		o := l.send(c, msg)
		l.sent[i] = Sent{Sum: sumOf(msg), Outcome: o}
		l.count[o].Add(1)
		switch o {
		case Interrupted:
			c.Close()
			c = nil
		case Deferred, Rejected:
			// The session stays usable after a refusal; RSET clears
			// whatever state the refused transaction left.
			if err := c.Reset(); err != nil {
				c.Close()
				c = nil
			}
		}
	}
	return nil
}

// dial connects and greets, trying again while the server is away.
func (l *load) dial(ctx context.Context) (*smtp.Client, error) {
	deadline := time.Now().Add(reconnectFor)
	wait := 50 * time.Millisecond
	for {
		c, err := l.dialOnce(ctx)
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("connecting to the SMTP listener %s for %v: %w", l.spec.Addr, reconnectFor, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait + rand.N(wait)):
		}
		wait = min(2*wait, time.Second)
	}
}

func (l *load) dialOnce(ctx context.Context) (*smtp.Client, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", l.spec.Addr)
	if err != nil {
		return nil, err
	}
	c := smtp.NewClient(conn)
	c.CommandTimeout = smtpTimeout
	c.SubmissionTimeout = smtpTimeout
	if err := c.Hello("load.drill.test"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// send sends one message and classifies the server's answer.
func (l *load) send(c *smtp.Client, msg []byte) Outcome {
	err := transaction(c, l.spec.From, l.spec.To, msg)
	if err == nil {
		return Accepted
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		switch se.Code / 100 {
		case 4:
			return Deferred
		case 5:
			return Rejected
		}
	}
	return Interrupted
}

// transaction is one MAIL, RCPT, DATA exchange.
func transaction(c *smtp.Client, from, to string, msg []byte) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// results returns the record of every message, once run has returned.
func (l *load) results() []Sent { return l.sent }
