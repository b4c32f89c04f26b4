package loadgen

import (
	"context"
	cryptorand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// IMAPOptions configures an IMAP command mix.
type IMAPOptions struct {
	Server   Conn
	Clients  int
	Duration time.Duration
	// Users are the accounts the clients log in to, client i to account
	// i modulo Users.Count.
	Users Users
	// Size is the size of appended messages.
	Size SizeRange
	// IdleFor is how long an IDLE of the mix lasts; default 1s.
	IdleFor  time.Duration
	Progress io.Writer
}

// IMAPReport is what an IMAP command mix measured.
type IMAPReport struct {
	Server    string    `json:"server"`
	Clients   int       `json:"clients"`
	Mailboxes int       `json:"mailboxes"`
	Elapsed   Seconds   `json:"elapsed_s"`
	Ops       int       `json:"ops"`
	Errors    int       `json:"errors"`
	PerSecond float64   `json:"ops_per_second"`
	Commands  []Stat    `json:"commands"`
	Samples   []string  `json:"error_samples,omitempty"`
	Started   time.Time `json:"started"`
}

// Operations of the mix, as they appear in reports.
const (
	opLogin      = "LOGIN"
	opSelect     = "SELECT"
	opFetchEnv   = "FETCH envelopes"
	opFetchBody  = "FETCH body"
	opStore      = "STORE flags"
	opSearch     = "SEARCH"
	opAppend     = "APPEND"
	opIdle       = "IDLE"
	opLogout     = "LOGOUT"
	sessionOps   = 30 // mean number of commands between LOGIN and LOGOUT
	envelopeSpan = 20 // messages per FETCH of envelopes, like a client's message list
)

// mix is what a client does between SELECT and LOGOUT, with weights
// roughly those of a desktop client that reads mail: list, open, mark,
// search, sometimes save a draft, sometimes wait for news.
var mix = []struct {
	op     string
	weight int
	run    func(*imapSession) error
}{
	{opFetchEnv, 30, (*imapSession).fetchEnvelopes},
	{opFetchBody, 20, (*imapSession).fetchBody},
	{opStore, 15, (*imapSession).storeFlags},
	{opSearch, 10, (*imapSession).search},
	{opAppend, 5, (*imapSession).append},
	{opIdle, 5, (*imapSession).idle},
}

func (o *IMAPOptions) check() error {
	switch {
	case o.Server.Addr == "":
		return errors.New("no IMAP server address given")
	case o.Clients < 1:
		return fmt.Errorf("the number of clients must be at least 1, not %d", o.Clients)
	case o.Duration <= 0:
		return errors.New("the duration must be positive")
	case o.Size.Min < 1:
		return errors.New("no message size given")
	}
	if o.IdleFor <= 0 {
		o.IdleFor = time.Second
	}
	return o.Users.check()
}

// IMAP runs o.Clients clients for o.Duration, each in a loop of sessions:
// LOGIN, SELECT INBOX, a random sequence of the commands of mix, LOGOUT.
// It reports the rate of all commands and the latency of each.
func IMAP(ctx context.Context, o IMAPOptions) (*IMAPReport, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	// Every client logs in once first, one after the other, before the
	// clock starts. A wrong address or password is then an error with
	// advice, not a report full of failures; and the server sees each
	// client's account and address succeed once, as it has seen a real
	// user's device: a server that slows down logins from an address it
	// has not seen succeed for an account (Casella's limit.Auth) would
	// otherwise take a cold start of many clients from one address for
	// password guessing, and the run would measure that defence.
	for i := range o.Clients {
		c, err := login(ctx, o.Server.For(i), o.Users.name(i), o.Users.Password)
		if err != nil {
			return nil, err
		}
		c.Logout().Wait()
		c.Close()
	}

	rec := newRecorder(opLogin, opSelect, opFetchEnv, opFetchBody, opStore, opSearch, opAppend, opIdle, opLogout)
	samples := &errorSamples{}
	stop := ticker(ctx, o.Progress, func(el time.Duration) string {
		ok, failed := rec.counts()
		return fmt.Sprintf("imap %4.0fs/%.0fs: %d commands  %d errors  %.0f ops/s",
			el.Seconds(), o.Duration.Seconds(), ok, failed, float64(ok)/el.Seconds())
	})
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	run := cryptorand.Text()[:8]
	start := time.Now()
	var wg sync.WaitGroup
	for i := range o.Clients {
		wg.Go(func() {
			cl := &imapClient{opts: &o, rec: rec, errs: samples, user: o.Users.name(i), run: run, id: i,
				rnd: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))}
			cl.loop(runCtx)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &IMAPReport{Server: o.Server.Addr, Clients: o.Clients, Mailboxes: o.Users.Count, Elapsed: seconds(elapsed),
		Commands: rec.stats(elapsed), Samples: samples.list(), Started: start}
	r.Ops, r.Errors = rec.counts()
	r.PerSecond = float64(r.Ops) / elapsed.Seconds()
	return r, nil
}

// errorSamples keeps the first few errors of a run, to show.
type errorSamples struct {
	mu   sync.Mutex
	errs []string
}

func (e *errorSamples) add(op string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.errs) < 5 {
		e.errs = append(e.errs, op+": "+err.Error())
	}
}

func (e *errorSamples) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.errs
}

// imapClient is one simulated user.
type imapClient struct {
	opts *IMAPOptions
	rec  *recorder
	errs *errorSamples
	user string
	run  string
	id   int
	rnd  *rand.Rand
	sent int // messages appended, for unique Message-IDs
	// waited is time the running command spent waiting on purpose (the
	// hold of an IDLE), which is not the server's latency.
	waited time.Duration
}

// loop runs sessions until ctx is done.
func (cl *imapClient) loop(ctx context.Context) {
	for ctx.Err() == nil {
		if err := cl.session(ctx); err != nil && ctx.Err() == nil {
			// A session that broke is not retried in a tight loop
			// against a server that refuses connections.
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// timed runs f as op and records its latency, less what it waited.
func (cl *imapClient) timed(op string, f func() error) error {
	cl.waited = 0
	start := time.Now()
	if err := f(); err != nil {
		cl.rec.fail(op)
		cl.errs.add(op, err)
		return err
	}
	cl.rec.observe(op, time.Since(start)-cl.waited)
	return nil
}

// session is one LOGIN to LOGOUT. Commands still running when ctx ends
// are finished and counted; the session then logs out.
func (cl *imapClient) session(ctx context.Context) error {
	c, err := dialIMAP(ctx, cl.opts.Server.For(cl.id))
	if err != nil {
		cl.rec.fail(opLogin)
		cl.errs.add(opLogin, err)
		return err
	}
	defer c.Close()
	// A command that hangs must not outlive the run by much.
	stop := context.AfterFunc(ctx, func() {
		time.AfterFunc(imapTimeout, func() { c.Close() })
	})
	defer stop()
	s := &imapSession{cl: cl, c: c}
	if err := cl.timed(opLogin, func() error { return c.Login(cl.user, cl.opts.Users.Password).Wait() }); err != nil {
		return err
	}
	if err := cl.timed(opSelect, func() error { _, err := c.Select("INBOX", nil).Wait(); return err }); err != nil {
		return err
	}
	total := 0
	for _, m := range mix {
		total += m.weight
	}
	for range 1 + cl.rnd.IntN(2*sessionOps) {
		if ctx.Err() != nil {
			break
		}
		pick := cl.rnd.IntN(total)
		for _, m := range mix {
			if pick -= m.weight; pick < 0 {
				op, run := m.op, m.run
				if s.messages() == 0 {
					// An empty mailbox has nothing to fetch, mark or
					// search; fill it as a client saving drafts would.
					op, run = opAppend, (*imapSession).append
				}
				if err := cl.timed(op, func() error { return run(s) }); err != nil {
					return err
				}
				break
			}
		}
	}
	return cl.timed(opLogout, func() error { return c.Logout().Wait() })
}

// imapSession is a logged-in client with INBOX selected.
type imapSession struct {
	cl *imapClient
	c  *imapclient.Client
}

func (s *imapSession) messages() uint32 {
	if mbox := s.c.Mailbox(); mbox != nil {
		return mbox.NumMessages
	}
	return 0
}

// randomMessage returns the sequence number of a random message; the
// mailbox must not be empty.
func (s *imapSession) randomMessage() uint32 {
	return 1 + uint32(s.cl.rnd.IntN(int(s.messages())))
}

// fetchEnvelopes fetches what a message list shows of the newest messages.
func (s *imapSession) fetchEnvelopes() error {
	n := s.messages()
	var set imap.SeqSet
	set.AddRange(uint32(max(1, int64(n)-envelopeSpan+1)), n)
	_, err := s.c.Fetch(set, &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, RFC822Size: true, InternalDate: true,
	}).Collect()
	return err
}

// fetchBody fetches a whole message without setting \Seen.
func (s *imapSession) fetchBody() error {
	_, err := s.c.Fetch(imap.SeqSetNum(s.randomMessage()), &imap.FetchOptions{
		UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	return err
}

// storeFlags marks a message read or unread, or flags it.
func (s *imapSession) storeFlags() error {
	flags := []imap.Flag{imap.FlagSeen}
	if s.cl.rnd.IntN(4) == 0 {
		flags = []imap.Flag{imap.FlagFlagged}
	}
	op := imap.StoreFlagsAdd
	if s.cl.rnd.IntN(2) == 0 {
		op = imap.StoreFlagsDel
	}
	return s.c.Store(imap.SeqSetNum(s.randomMessage()), &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close()
}

// search looks for unread mail, or for mail of the last week.
func (s *imapSession) search() error {
	crit := &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}
	if s.cl.rnd.IntN(2) == 0 {
		crit = &imap.SearchCriteria{Since: time.Now().AddDate(0, 0, -7)}
	}
	_, err := s.c.UIDSearch(crit, nil).Wait()
	return err
}

// append saves a message to INBOX.
func (s *imapSession) append() error {
	s.cl.sent++
	me := s.cl.user
	msg := compose(s.cl.rnd, s.cl.run, s.cl.id<<32|s.cl.sent, me, me, time.Now(), s.cl.opts.Size.pick(s.cl.rnd))
	cmd := s.c.Append("INBOX", int64(len(msg)), nil)
	if _, err := cmd.Write(msg); err != nil {
		cmd.Close()
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err := cmd.Wait()
	return err
}

// idle waits in IDLE for IdleFor, as a client waiting for news; its
// latency is that of entering and leaving IDLE.
func (s *imapSession) idle() error {
	cmd, err := s.c.Idle()
	if err != nil {
		return err
	}
	time.Sleep(s.cl.opts.IdleFor)
	s.cl.waited = s.cl.opts.IdleFor
	if err := cmd.Close(); err != nil {
		return err
	}
	return cmd.Wait()
}
