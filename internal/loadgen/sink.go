package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"
)

// SinkOptions configure a sink MX: an SMTP server that takes the messages
// of SMTP, relayed by the server under test, counts them and checks each.
type SinkOptions struct {
	// Listen is the SMTP listener's host:port.
	Listen string
	// DNS, if not "", is a host:port where the sink also answers DNS over
	// UDP and TCP: every name's MX is the sink's host, and every name's A
	// record the sink's address, so that a server delivering directly to
	// MX hosts finds the sink for any domain.
	DNS string
	// Expect is how many messages to wait for; the sink returns when it
	// has them, or after Idle without a message.
	Expect int
	Idle   time.Duration
	// Progress, if not nil, gets a line every few seconds.
	Progress io.Writer
}

// SinkReport is what a sink saw.
type SinkReport struct {
	Expected int     `json:"expected"`
	Accepted int     `json:"accepted"`
	Bytes    int64   `json:"bytes"`
	Elapsed  Seconds `json:"elapsed_s"` // from the sink's start to the last message
	// PerSecond is Accepted over Elapsed.
	PerSecond float64 `json:"messages_per_second"`
	// Contradictions counts messages that are not what SMTP sent: a
	// Message-ID seen before, a recipient not the message's To, a body
	// not cut from the load's text, a message not from the load at all.
	Contradictions int      `json:"contradictions"`
	Errors         []string `json:"errors,omitempty"`
}

// WriteText prints the report for people.
func (r *SinkReport) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "sink: %d of %d messages in %.1fs, %.1f messages/s, %d contradictions\n",
		r.Accepted, r.Expected, r.Elapsed, r.PerSecond, r.Contradictions)
	writeSamples(w, r.Errors)
	return nil
}

// sink is the state of a running sink.
type sink struct {
	mu             sync.Mutex
	start, last    time.Time
	seen           map[string]bool
	accepted       int
	bytes          int64
	contradictions int
	samples        []string
	arrived        chan struct{} // a value per message
}

// Sink runs a sink until it has Expect messages, Idle passes without one,
// or ctx ends. An error with a report means the sink fell short.
func Sink(ctx context.Context, o SinkOptions) (*SinkReport, error) {
	if o.Expect < 1 {
		return nil, fmt.Errorf("the number of messages to expect must be at least 1, not %d", o.Expect)
	}
	if o.Idle <= 0 {
		o.Idle = time.Minute
	}
	l, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	s := &sink{seen: map[string]bool{}, arrived: make(chan struct{}, o.Expect+1024)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	srv.Domain = "sink.bench.test"
	srv.MaxMessageBytes = 64 << 20
	srv.MaxRecipients = 1000
	srv.ErrorLog = discardLog{}
	go srv.Serve(l)
	defer srv.Close()
	if o.DNS != "" {
		stop, err := serveSinkDNS(o.DNS, l.Addr().(*net.TCPAddr).IP)
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	s.start = time.Now()
	idle := time.NewTimer(o.Idle)
	defer idle.Stop()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	var short error
	for n := 0; n < o.Expect && short == nil; {
		select {
		case <-s.arrived:
			n++
			idle.Reset(o.Idle)
		case <-tick.C:
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "sink: %d of %d messages\n", n, o.Expect)
			}
		case <-idle.C:
			short = fmt.Errorf("no message for %s after %d of %d", o.Idle, n, o.Expect)
		case <-ctx.Done():
			short = ctx.Err()
		}
	}
	// A message beyond those expected is one sent twice: wait a moment
	// for it.
	if short == nil {
		time.Sleep(time.Second)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &SinkReport{Expected: o.Expect, Accepted: s.accepted, Bytes: s.bytes, Contradictions: s.contradictions, Errors: s.samples}
	if s.accepted > o.Expect {
		r.Contradictions += s.accepted - o.Expect
		r.Errors = append(r.Errors, fmt.Sprintf("%d messages more than the %d expected", s.accepted-o.Expect, o.Expect))
	}
	if s.accepted > 0 {
		r.Elapsed = Seconds(s.last.Sub(s.start).Seconds())
		r.PerSecond = float64(s.accepted) / float64(r.Elapsed)
	}
	return r, short
}

// check returns what contradicts msg, sent to rcpt, being one of SMTP's
// messages, or "".
func (s *sink) check(rcpt string, msg []byte) string {
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if end < 0 {
		return "a message without a body"
	}
	header, body := string(msg[:end+2]), msg[end+4:]
	id := field(header, "Message-ID")
	if !strings.HasSuffix(id, "@bench.casella>") {
		return fmt.Sprintf("a message not from the load: Message-ID %q", id)
	}
	if to := field(header, "To"); !strings.EqualFold(to, "<"+rcpt+">") {
		return fmt.Sprintf("%s for <%s> has To %s", id, rcpt, to)
	}
	if !fromFiller(body) {
		return id + " has a body not cut from the load's text"
	}
	if s.seen[id] {
		return id + " arrived twice"
	}
	s.seen[id] = true
	return ""
}

// field returns the value of the header's first field called name.
func field(header, name string) string {
	for _, line := range strings.Split(header, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// fromFiller reports whether body is lines of the filler as compose cuts
// them: each line follows the one before in the filler, or starts it over.
func fromFiller(body []byte) bool {
	lines := bytes.Split(bytes.TrimSuffix(body, []byte("\r\n")), []byte("\r\n"))
	if len(lines) == 0 || len(lines[0]) == 0 {
		return len(body) == 0
	}
	off := bytes.Index(filler, lines[0])
	if off < 0 {
		return false
	}
	off += len(lines[0])
	for _, line := range lines[1:] {
		switch {
		case off+len(line) <= len(filler) && bytes.Equal(filler[off:off+len(line)], line):
			off += len(line)
		case bytes.HasPrefix(filler, line):
			off = len(line)
		default:
			return false
		}
	}
	return true
}

type sinkSession struct {
	s     *sink
	rcpts []string
}

func (ss *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	msg, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rcpt := range ss.rcpts {
		s.accepted++
		s.bytes += int64(len(msg))
		s.last = time.Now()
		if bad := s.check(rcpt, msg); bad != "" {
			s.contradictions++
			if len(s.samples) < 10 {
				s.samples = append(s.samples, bad)
			}
		}
		select {
		case s.arrived <- struct{}{}:
		default:
		}
	}
	return nil
}

func (ss *sinkSession) Reset()        { ss.rcpts = nil }
func (ss *sinkSession) Logout() error { return nil }

// serveSinkDNS answers every MX query with the sink's host and every A
// query with ip, until stop is called.
func serveSinkDNS(addr string, ip net.IP) (stop func(), err error) {
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, question := range q.Question {
			hdr := dns.RR_Header{Name: question.Name, Class: dns.ClassINET, Ttl: 3600, Rrtype: question.Qtype}
			switch question.Qtype {
			case dns.TypeMX:
				m.Answer = append(m.Answer, &dns.MX{Hdr: hdr, Preference: 10, Mx: "sink.bench.test."})
			case dns.TypeA:
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: ip.To4()})
			}
		}
		w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("sink DNS: %w", err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("sink DNS: %w", err)
	}
	udp, tcp := &dns.Server{PacketConn: pc, Handler: h}, &dns.Server{Listener: l, Handler: h}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	return func() { udp.Shutdown(); tcp.Shutdown() }, nil
}

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Println(...any)        {}
