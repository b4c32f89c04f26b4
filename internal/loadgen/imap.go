package loadgen

import (
	"context"
	cryptorand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
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
	// Fill is how many messages each account's INBOX holds at least
	// before the clients start: missing ones are appended first, and
	// not measured.
	Fill int
	// Rate, when above 0, is the load offered: commands per second over
	// all clients, each client sending at random (Poisson) times at its
	// share of it, as users do, instead of each command right after the
	// last one's answer. At an equal offered load two servers' latencies
	// compare work for work; as fast as possible, the faster server is
	// also sent more writes at once.
	Rate     float64
	Progress io.Writer
}

// IMAPReport is what an IMAP command mix measured.
type IMAPReport struct {
	Server    string  `json:"server"`
	Clients   int     `json:"clients"`
	Mailboxes int     `json:"mailboxes"`
	Elapsed   Seconds `json:"elapsed_s"`
	Ops       int     `json:"ops"`
	// Errors are commands that failed: NO, BAD, or a broken connection.
	Errors int `json:"errors"`
	// ProtocolErrors are responses that contradicted the session's model
	// of its mailbox; Exact says whether the checks that need one session
	// per account (the flags a message must have) were on.
	ProtocolErrors int     `json:"protocol_errors"`
	Exact          bool    `json:"exact"`
	PerSecond      float64 `json:"ops_per_second"`
	// Offered is IMAPOptions.Rate; 0 when the clients sent as fast as
	// the server answered.
	Offered         float64  `json:"offered_per_second"`
	Commands        []Stat   `json:"commands"`
	Samples         []string `json:"error_samples,omitempty"`
	ProtocolSamples []string `json:"protocol_error_samples,omitempty"`
	// ProtocolKinds counts the protocol errors by message, numbers
	// replaced by N.
	ProtocolKinds map[string]int `json:"protocol_error_kinds,omitempty"`
	Started       time.Time      `json:"started"`
}

// Operations of the mix, as they appear in reports.
const (
	opLogin      = "LOGIN"
	opList       = "LIST"
	opStatus     = "STATUS"
	opEnable     = "ENABLE"
	opSelect     = "SELECT"
	opFetchFlags = "FETCH flags"
	opFetchEnv   = "FETCH envelopes"
	opFetchBody  = "FETCH body"
	opStore      = "STORE flags"
	opKeywords   = "STORE keywords"
	opDelete     = `STORE \Deleted`
	opExpunge    = "EXPUNGE"
	opAppend     = "APPEND"
	opLogout     = "LOGOUT"
	sessionOps   = 30 // mean number of mix commands between SELECT and LOGOUT
	envelopeSpan = 20 // messages per FETCH of envelopes, like a client's message list
	maxStatus    = 5  // mailboxes besides INBOX a session asks STATUS of
)

// mix is what a client does between SELECT and LOGOUT, with weights
// roughly those of a desktop client that reads mail: list, open, mark
// read or flagged, label, file drafts, delete. Before each command the
// session fetches the UIDs and flags of messages it learnt of by EXISTS,
// as clients do.
var mix = []struct {
	op     string
	weight int
	run    func(*imapSession) error
}{
	{opFetchEnv, 30, (*imapSession).fetchEnvelopes},
	{opFetchBody, 20, (*imapSession).fetchBody},
	{opStore, 15, (*imapSession).storeFlags},
	{opKeywords, 5, (*imapSession).storeKeywords},
	{opAppend, 10, (*imapSession).append},
	{opExpunge, 5, (*imapSession).deleteExpunge},
}

// keywords are the labels clients set (Thunderbird's $label1-5, RFC 5788).
var keywords = []string{"$label1", "$label2", "$label3", "$label4", "$label5", "$Forwarded", "$MDNSent"}

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
	case o.Rate < 0:
		return fmt.Errorf("the rate must be positive, or 0 for as fast as the server answers, not %g", o.Rate)
	}
	return o.Users.check()
}

// IMAP runs o.Clients clients for o.Duration, each in a loop of sessions:
// LOGIN, LIST, STATUS, SELECT INBOX, a random sequence of the commands of
// mix, LOGOUT. Each session keeps a model of its mailbox from the
// server's responses and counts every response that contradicts it. It
// reports the rate of all commands and the latency of each.
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
		srv, user := o.Server.For(i), o.Users.name(i)
		c, err := dialWire(ctx, srv)
		if err != nil {
			return nil, err
		}
		_, err = c.run(nil, "LOGIN", quote(user), quote(o.Users.Password))
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("logging in to the IMAP server at %s as %s: %w; check the account and its password", srv.Addr, user, err)
		}
	}

	if err := fillInboxes(ctx, o); err != nil {
		return nil, err
	}

	ops := []string{opLogin, opList, opStatus, opEnable, opSelect, opFetchFlags}
	for _, m := range mix {
		ops = append(ops, m.op)
	}
	rec := newRecorder(append(ops, opDelete, opLogout)...)
	samples, proto := &errorSamples{max: 5}, &errorSamples{max: 20}
	stop := ticker(ctx, o.Progress, func(el time.Duration) string {
		ok, failed := rec.counts()
		return fmt.Sprintf("imap %4.0fs/%.0fs: %d commands  %d errors  %d protocol errors  %.0f ops/s",
			el.Seconds(), o.Duration.Seconds(), ok, failed, proto.count(), float64(ok)/el.Seconds())
	})
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	run := cryptorand.Text()[:8]
	exact := o.Clients <= o.Users.Count
	start := time.Now()
	var wg sync.WaitGroup
	for i := range o.Clients {
		wg.Go(func() {
			cl := &imapClient{opts: &o, rec: rec, errs: samples, proto: proto, user: o.Users.name(i), run: run, id: i,
				exact: exact, rnd: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))}
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
		Commands: rec.stats(elapsed), Samples: samples.list(), ProtocolErrors: proto.count(),
		ProtocolSamples: proto.list(), ProtocolKinds: proto.byKind(), Exact: exact, Started: start, Offered: o.Rate}
	r.Ops, r.Errors = rec.counts()
	r.PerSecond = float64(r.Ops) / elapsed.Seconds()
	return r, nil
}

// fillers is how many accounts fillInboxes fills at once.
const fillers = 8

// fillInboxes appends messages to each account's INBOX until it holds o.Fill.
func fillInboxes(ctx context.Context, o IMAPOptions) error {
	if o.Fill <= 0 {
		return nil
	}
	var next atomic.Int64
	var logins sync.Mutex
	errs := make([]error, fillers)
	var wg sync.WaitGroup
	for f := range fillers {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(f), uint64(time.Now().UnixNano())))
			for ctx.Err() == nil && errs[f] == nil {
				i := int(next.Add(1)) - 1
				if i >= o.Users.Count {
					return
				}
				errs[f] = fillOne(ctx, o, i, rnd, &logins)
			}
		})
	}
	wg.Wait()
	return errors.Join(append(errs, ctx.Err())...)
}

// fillOne fills the INBOX of account i. Its LOGIN waits for the other
// fillers' (logins): a server may hold back several first logins at once
// from one address as password guessing (Casella does), and filling is
// not the place to measure that.
func fillOne(ctx context.Context, o IMAPOptions, i int, rnd *rand.Rand, logins *sync.Mutex) error {
	user := o.Users.name(i)
	c, err := dialWire(ctx, o.Server.For(i))
	if err != nil {
		return err
	}
	defer c.Close()
	m := &model{}
	on := func(r *resp) error { return m.untagged(r) }
	logins.Lock()
	_, err = c.run(on, "LOGIN", quote(user), quote(o.Users.Password))
	logins.Unlock()
	if err != nil {
		return fmt.Errorf("filling the INBOX of %s: LOGIN: %w", user, err)
	}
	if _, err := c.run(on, "SELECT", "INBOX"); err != nil {
		return fmt.Errorf("filling the INBOX of %s: SELECT: %w", user, err)
	}
	run := cryptorand.Text()[:8]
	for n := len(m.msgs); n < o.Fill; n++ {
		msg := compose(rnd, run, n, "bench@load.test", user, time.Now().Add(-time.Duration(o.Fill-n)*time.Hour), o.Size.pick(rnd))
		if _, err := c.run(on, "APPEND", "INBOX", literal(msg)); err != nil {
			return fmt.Errorf("filling the INBOX of %s: APPEND: %w", user, err)
		}
	}
	_, err = c.run(nil, "LOGOUT")
	return err
}

// errorSamples counts errors, by kind (the message with its numbers
// taken out), and keeps the first few, to show.
type errorSamples struct {
	mu    sync.Mutex
	max   int
	n     int
	errs  []string
	kinds map[string]int
}

func (e *errorSamples) add(op string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	msg := op + ": " + err.Error()
	if len(e.errs) < e.max {
		e.errs = append(e.errs, msg)
	}
	if e.kinds == nil {
		e.kinds = map[string]int{}
	}
	e.kinds[digits.ReplaceAllString(msg, "N")]++
}

// digits are the numbers in an error message.
var digits = regexp.MustCompile(`[0-9]+`)

func (e *errorSamples) byKind() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.kinds)
}

func (e *errorSamples) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

func (e *errorSamples) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.errs
}

// imapClient is one simulated user.
type imapClient struct {
	opts  *IMAPOptions
	rec   *recorder
	errs  *errorSamples
	proto *errorSamples
	user  string
	run   string
	id    int
	rnd   *rand.Rand
	sent  int // messages appended, for unique Message-IDs
	exact bool
	// sessions counts this client's sessions; every other one enables
	// QRESYNC, so both EXPUNGE and VANISHED are checked.
	sessions int
	// last is the mailbox as the last session that ended cleanly left
	// it; nil after a session that broke off.
	last *mailboxEnd
	// due is when the next command is to be sent, under a Rate.
	due time.Time
}

// pace waits for the time the next command is due under o.Rate, and
// sets the one after: the gaps are exponential with the mean that makes
// the client's share of the rate. A client that fell behind (the server
// answered late) sends at once, and its schedule stays where it was, so
// that it catches up and the load offered stays the load asked for.
func (cl *imapClient) pace(ctx context.Context) {
	if cl.opts.Rate <= 0 {
		return
	}
	now := time.Now()
	if cl.due.IsZero() {
		cl.due = now
	}
	if wait := cl.due.Sub(now); wait > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	mean := float64(cl.opts.Clients) / cl.opts.Rate * float64(time.Second)
	cl.due = cl.due.Add(time.Duration(cl.rnd.ExpFloat64() * mean))
}

// mailboxEnd is what the next session of an account must find.
type mailboxEnd struct {
	messages    int
	highest     uint64
	uidValidity uint32
	uidNext     uint32
}

// errBroken ends a session whose view of the mailbox can no longer be
// trusted; the protocol error that broke it is counted already.
var errBroken = errors.New("session's view of the mailbox lost")

// loop runs sessions until ctx is done.
func (cl *imapClient) loop(ctx context.Context) {
	for ctx.Err() == nil {
		if err := cl.session(ctx); err != nil && !errors.Is(err, errBroken) && ctx.Err() == nil {
			// A session that broke is not retried in a tight loop
			// against a server that refuses connections.
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// session is one LOGIN to LOGOUT. Commands still running when ctx ends
// are finished and counted; the session then logs out.
func (cl *imapClient) session(ctx context.Context) error {
	c, err := dialWire(ctx, cl.opts.Server.For(cl.id))
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
	cl.sessions++
	s := &imapSession{ctx: ctx, cl: cl, w: c, m: &model{exact: cl.exact}}
	last := cl.last
	cl.last = nil
	if last != nil {
		s.m.highest, s.m.uidValidity, s.m.uidNext = last.highest, last.uidValidity, last.uidNext
	}
	if err := s.timed(opLogin, func() error {
		return s.exec(nil, "LOGIN", quote(cl.user), quote(cl.opts.Users.Password))
	}); err != nil {
		return err
	}
	if err := s.list(); err != nil {
		return err
	}
	if cl.sessions%2 == 0 && c.caps["QRESYNC"] {
		if err := s.timed(opEnable, func() error { return s.exec(nil, "ENABLE", "QRESYNC") }); err != nil {
			return err
		}
	}
	if err := s.timed(opSelect, func() error { return s.selectInbox(last) }); err != nil {
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
		if seq := s.m.unknownFrom(); seq > 0 {
			if err := s.timed(opFetchFlags, func() error { return s.fetchFlags(seq) }); err != nil {
				return err
			}
		}
		pick := cl.rnd.IntN(total)
		for _, m := range mix {
			if pick -= m.weight; pick < 0 {
				op, run := m.op, m.run
				if len(s.m.msgs) == 0 {
					// An empty mailbox has nothing to fetch, mark or
					// delete; fill it as a client saving drafts would.
					op, run = opAppend, (*imapSession).append
				}
				if op == opExpunge {
					// Two commands, timed each.
					err = run(s)
				} else {
					err = s.timed(op, func() error { return run(s) })
				}
				if err != nil {
					return err
				}
				break
			}
		}
	}
	if err := s.timed(opLogout, func() error { return s.exec(nil, "LOGOUT") }); err != nil {
		return err
	}
	cl.last = &mailboxEnd{messages: len(s.m.msgs), highest: s.m.highest, uidValidity: s.m.uidValidity, uidNext: max(s.m.uidNext, s.m.maxUID()+1)}
	return nil
}

// imapSession is one logged-in connection and its model.
type imapSession struct {
	ctx       context.Context // the run's: pacing waits end with it
	cl        *imapClient
	w         *wire
	m         *model
	op        string // the command running, for protocol errors
	mailboxes []string
	// collect sees each untagged response of the running command after
	// the model did.
	collect    func(*resp)
	loggingOut bool
	timing     bool // a timed command is running
}

// timed runs f as op and records its latency. A protocol error that
// broke the session still leaves the command's latency recorded.
func (s *imapSession) timed(op string, f func() error) error {
	s.op = op
	// A command timed inside another (SELECT's FETCH of all flags) is
	// part of the outer one's turn.
	if !s.timing {
		s.cl.pace(s.ctx)
		s.timing = true
		defer func() { s.timing = false }()
	}
	start := time.Now()
	err := f()
	if err != nil && !errors.Is(err, errBroken) {
		s.cl.rec.fail(op)
		s.cl.errs.add(op, err)
		return err
	}
	s.cl.rec.observe(op, time.Since(start))
	return err
}

// protocol counts the protocol errors in err.
func (s *imapSession) protocol(err error) {
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			s.protocol(e)
		}
		return
	}
	s.cl.proto.add(s.op, err)
}

// on handles an untagged response.
func (s *imapSession) on(r *resp) error {
	if r.Kind == "BYE" && s.loggingOut {
		return nil
	}
	s.protocol(s.m.untagged(r))
	if s.collect != nil {
		s.collect(r)
	}
	return nil
}

// exec runs one command; after, if not nil, sees the tagged OK's text
// before the model checks what the command must have done.
func (s *imapSession) exec(after func(text string), args ...any) error {
	s.loggingOut = len(args) > 0 && args[0] == "LOGOUT"
	text, err := s.w.run(s.on, args...)
	s.collect = nil
	if err == nil && after != nil {
		after(text)
	}
	s.protocol(s.m.end())
	if err != nil {
		return err
	}
	if s.m.broken {
		return errBroken
	}
	return nil
}

// list runs LIST "" "*" and STATUS on a few of the mailboxes, as a client
// filling its folder pane.
func (s *imapSession) list() error {
	s.mailboxes = nil
	inbox := false
	err := s.timed(opList, func() error {
		s.collect = func(r *resp) {
			if r.Kind == "LIST" && len(r.Items) == 3 {
				name, _ := r.Items[2].(string)
				if strings.EqualFold(name, "INBOX") {
					inbox = true
				} else if attrs, _ := r.Items[0].([]any); !hasFold(strs(attrs), `\Noselect`) && !hasFold(strs(attrs), `\NonExistent`) {
					s.mailboxes = append(s.mailboxes, name)
				}
			}
		}
		return s.exec(func(string) {
			if !inbox {
				s.protocol(s.m.errorf(`LIST "" "*" without INBOX`))
			}
		}, "LIST", `""`, `"*"`)
	})
	if err != nil {
		return err
	}
	items := "(MESSAGES UIDNEXT UNSEEN)"
	if s.w.caps["CONDSTORE"] {
		items = "(MESSAGES UIDNEXT UNSEEN HIGHESTMODSEQ)"
	}
	for _, name := range s.mailboxes[:min(len(s.mailboxes), maxStatus)] {
		err := s.timed(opStatus, func() error {
			got := false
			s.collect = func(r *resp) {
				got = got || r.Kind == "STATUS"
			}
			return s.exec(func(string) {
				if !got {
					s.protocol(s.m.errorf("STATUS %q answered no STATUS response", name))
				}
			}, "STATUS", quote(name), items)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// selectInbox selects INBOX, with CONDSTORE when the server has it, and
// checks it against how the last session left it, then fetches the UIDs
// and flags of all messages as a client synchronising its cache.
func (s *imapSession) selectInbox(last *mailboxEnd) error {
	args := []any{"SELECT", "INBOX"}
	if s.w.caps["CONDSTORE"] {
		args = append(args, "(CONDSTORE)")
	}
	s.collect = func(r *resp) {
		if name, args, ok := responseCode(r.Text); ok && r.Kind == "OK" && name == "PERMANENTFLAGS" {
			s.m.keywords = strings.Contains(args, `\*`)
		}
	}
	err := s.exec(func(string) {
		if last != nil && s.m.exact && len(s.m.msgs) != last.messages {
			s.protocol(s.m.errorf("SELECT found %d messages; the last session left %d and no other wrote", len(s.m.msgs), last.messages))
		}
	}, args...)
	if err != nil {
		return err
	}
	if len(s.m.msgs) == 0 {
		return nil
	}
	return s.timed(opFetchFlags, func() error { return s.fetchFlags(1) })
}

// fetchItems adds MODSEQ to items when CONDSTORE is on.
func (s *imapSession) fetchItems(items string) string {
	if s.w.caps["CONDSTORE"] {
		items += " MODSEQ"
	}
	return "(" + items + ")"
}

// fetchFlags fetches the UIDs and flags of the messages from seq on.
func (s *imapSession) fetchFlags(seq uint32) error {
	return s.exec(func(string) {
		// A message another session expunged may be left out of the
		// FETCH until its EXPUNGE can be sent (RFC 9051 section 7.4.1),
		// so only a session alone on its account can tell an omission.
		if i := s.m.unknownFrom(); s.m.exact && i > 0 && int(i) <= len(s.m.msgs) {
			s.protocol(s.m.errorf("FETCH %d:* (UID FLAGS) left message %d unknown", seq, i))
		}
	}, "FETCH", fmt.Sprintf("%d:*", seq), s.fetchItems("UID FLAGS"))
}

// fetchEnvelopes fetches what a message list shows of the newest messages.
func (s *imapSession) fetchEnvelopes() error {
	n := len(s.m.msgs)
	first := max(1, n-envelopeSpan+1)
	got := map[uint32]bool{}
	s.collect = func(r *resp) {
		if r.Kind != "FETCH" || len(r.Items) != 1 {
			return
		}
		l, _ := r.Items[0].([]any)
		for k := 0; k+1 < len(l); k += 2 {
			if name, _ := l[k].(string); strings.EqualFold(name, "ENVELOPE") {
				if env, ok := l[k+1].([]any); ok && len(env) == 10 {
					got[r.Num] = true
				} else {
					s.protocol(s.m.errorf("* %d FETCH: ENVELOPE is not a list of 10", r.Num))
				}
			}
		}
	}
	return s.exec(func(string) {
		if s.m.exact {
			for seq := first; seq <= n; seq++ {
				if !got[uint32(seq)] {
					s.protocol(s.m.errorf("FETCH %d:%d answered no ENVELOPE of message %d", first, n, seq))
					break
				}
			}
		}
	}, "FETCH", fmt.Sprintf("%d:%d", first, n), s.fetchItems("UID FLAGS ENVELOPE RFC822.SIZE INTERNALDATE"))
}

// pick returns a random message whose UID and flags are known, or nil.
func (s *imapSession) pick() *msgView {
	n := len(s.m.msgs)
	for range 8 {
		v := &s.m.msgs[s.cl.rnd.IntN(n)]
		if v.uid != 0 && v.known {
			return v
		}
	}
	return nil
}

// fetchBody fetches a whole message without setting \Seen and checks its
// length against its RFC822.SIZE.
func (s *imapSession) fetchBody() error {
	v := s.pick()
	if v == nil {
		return s.fetchEnvelopes()
	}
	uid := v.uid
	got := false
	s.collect = func(r *resp) {
		if r.Kind != "FETCH" || len(r.Items) != 1 {
			return
		}
		l, _ := r.Items[0].([]any)
		size, body, hasBody := -1, "", false
		for k := 0; k+1 < len(l); k += 2 {
			name, _ := l[k].(string)
			switch strings.ToUpper(name) {
			case "RFC822.SIZE":
				v, _ := l[k+1].(string)
				size, _ = strconv.Atoi(v)
			case "BODY[]":
				body, hasBody = l[k+1].(string)
			}
		}
		if !hasBody {
			return
		}
		got = true
		if size != len(body) {
			s.protocol(s.m.errorf("UID %d: BODY[] of %d bytes, RFC822.SIZE %d", uid, len(body), size))
		}
	}
	return s.exec(func(string) {
		if !got && s.m.seqOf(uid) > 0 {
			s.protocol(s.m.errorf("UID FETCH %d BODY.PEEK[] answered no body", uid))
		}
	}, "UID", "FETCH", strconv.FormatUint(uint64(uid), 10), "(UID RFC822.SIZE BODY.PEEK[])")
}

// toggle sets flag on a message that lacks it or clears it from one that
// has it, and expects the server to answer exactly that.
func (s *imapSession) toggle(v *msgView, flag string) error {
	op, want := "+FLAGS", v.flags.with(flag)
	if v.flags.has(flag) {
		op, want = "-FLAGS", v.flags.without(flag)
	}
	s.m.storing = map[uint32]flagSet{v.uid: want}
	return s.exec(nil, "UID", "STORE", strconv.FormatUint(uint64(v.uid), 10), op, "("+flag+")")
}

// storeFlags marks a message read or unread, or flags or unflags it.
func (s *imapSession) storeFlags() error {
	v := s.pick()
	if v == nil {
		return s.fetchEnvelopes()
	}
	flag := `\Seen`
	if s.cl.rnd.IntN(4) == 0 {
		flag = `\Flagged`
	}
	return s.toggle(v, flag)
}

// storeKeywords sets or clears a label.
func (s *imapSession) storeKeywords() error {
	v := s.pick()
	if v == nil || !s.m.keywords {
		return s.storeFlags()
	}
	return s.toggle(v, keywords[s.cl.rnd.IntN(len(keywords))])
}

// deleteExpunge marks a message \Deleted and expunges it, with UID
// EXPUNGE (RFC 4315) when the server has it, as a client deleting one
// message does.
func (s *imapSession) deleteExpunge() error {
	v := s.pick()
	if v == nil {
		return s.timed(opFetchEnv, s.fetchEnvelopes)
	}
	uid := v.uid
	err := s.timed(opDelete, func() error {
		if v.flags.has(`\Deleted`) {
			return nil
		}
		return s.toggle(v, `\Deleted`)
	})
	if err != nil {
		return err
	}
	args := []any{"EXPUNGE"}
	if s.w.caps["UIDPLUS"] {
		args = []any{"UID", "EXPUNGE", strconv.FormatUint(uint64(uid), 10)}
	}
	var deleted []uint32
	for _, m := range s.m.msgs {
		if m.flags.has(`\Deleted`) {
			deleted = append(deleted, m.uid)
		}
	}
	return s.timed(opExpunge, func() error {
		return s.exec(func(string) {
			if !slices.Contains(s.m.removed, uid) && s.m.seqOf(uid) > 0 {
				s.protocol(s.m.errorf("%s left UID %d, which has \\Deleted", strings.Join(strs(args), " "), uid))
			}
			if !s.m.exact {
				return
			}
			for _, r := range s.m.removed {
				if r != uid && (len(args) > 1 || !slices.Contains(deleted, r)) {
					s.protocol(s.m.errorf("%s removed UID %d too", strings.Join(strs(args), " "), r))
				}
			}
		}, args...)
	})
}

// append saves a message to INBOX and checks its APPENDUID (RFC 4315).
func (s *imapSession) append() error {
	s.cl.sent++
	me := s.cl.user
	msg := compose(s.cl.rnd, s.cl.run, s.cl.id<<32|s.cl.sent, me, me, time.Now(), s.cl.opts.Size.pick(s.cl.rnd))
	flags := "()"
	if s.cl.rnd.IntN(2) == 0 {
		flags = `(\Seen)`
	}
	return s.exec(func(text string) {
		name, args, ok := responseCode(text)
		if !ok || name != "APPENDUID" {
			if s.w.caps["UIDPLUS"] {
				s.protocol(s.m.errorf("APPEND answered %q, without APPENDUID", text))
			}
			return
		}
		f := strings.Fields(args)
		if len(f) != 2 {
			s.protocol(s.m.errorf("[APPENDUID %s]", args))
			return
		}
		validity, err1 := strconv.ParseUint(f[0], 10, 32)
		uid, err2 := strconv.ParseUint(f[1], 10, 32)
		switch {
		case err1 != nil || err2 != nil:
			s.protocol(s.m.errorf("[APPENDUID %s]", args))
		case uint32(validity) != s.m.uidValidity:
			s.protocol(s.m.errorf("[APPENDUID %s] with UIDVALIDITY %d", args, s.m.uidValidity))
		case uint32(uid) < s.m.uidNext || uint32(uid) <= s.m.maxUID():
			s.protocol(s.m.errorf("[APPENDUID %s] not above the UIDs the session knows (UIDNEXT %d)", args, s.m.uidNext))
		default:
			s.m.uidNext = uint32(uid) + 1
		}
	}, "APPEND", "INBOX", flags, literal(msg))
}

// quote returns s as an IMAP quoted string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func hasFold(l []string, s string) bool {
	for _, x := range l {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
