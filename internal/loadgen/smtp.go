package loadgen

import (
	"context"
	cryptorand "crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// smtpTimeout bounds every SMTP exchange of the load.
const smtpTimeout = 2 * time.Minute

// SMTPOptions configures an SMTP ingest load.
type SMTPOptions struct {
	Server      Conn
	Messages    int
	Connections int
	Size        SizeRange
	From        string
	// Recipients are the addresses messages go to, one each, in turn;
	// their password is not used.
	Recipients Users
	HelloName  string
	// Username and Password, if set, log each connection in with AUTH
	// PLAIN (RFC 4616): a submission server takes mail for other domains
	// only from its users.
	Username, Password string
	Progress           io.Writer
}

// SMTPReport is what an SMTP load measured.
type SMTPReport struct {
	Server      string    `json:"server"`
	Messages    int       `json:"messages"`
	Connections int       `json:"connections"`
	Mailboxes   int       `json:"mailboxes"`
	Size        string    `json:"size"`
	StartTLS    bool      `json:"starttls"`
	Accepted    int       `json:"accepted"`
	Deferred    int       `json:"deferred"` // 4xx
	Rejected    int       `json:"rejected"` // 5xx
	Failed      int       `json:"failed"`   // connection lost or timed out
	Bytes       int64     `json:"bytes"`    // of accepted messages
	Elapsed     Seconds   `json:"elapsed_s"`
	PerSecond   float64   `json:"messages_per_second"` // accepted
	MBPerSecond float64   `json:"mb_per_second"`
	Latency     Stat      `json:"data_reply"` // from the end of the data to the final reply
	Errors      []string  `json:"errors,omitempty"`
	Started     time.Time `json:"started"`
}

func (o *SMTPOptions) check() error {
	switch {
	case o.Server.Addr == "":
		return errors.New("no SMTP server address given")
	case o.Messages < 1:
		return fmt.Errorf("the number of messages must be at least 1, not %d", o.Messages)
	case o.Connections < 1:
		return fmt.Errorf("the number of connections must be at least 1, not %d", o.Connections)
	case o.Size.Min < 1:
		return errors.New("no message size given")
	}
	if o.From == "" {
		o.From = "bench@load.test"
	}
	if o.HelloName == "" {
		o.HelloName = "load.test"
	}
	return o.Recipients.check()
}

// SMTP sends o.Messages messages over o.Connections connections, each to
// one recipient, and measures the rate and the latency of the reply to the
// end of the data: the moment a server answers 250 is the moment it
// promises the message is safe.
func SMTP(ctx context.Context, o SMTPOptions) (*SMTPReport, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	l := &smtpLoad{opts: o, run: cryptorand.Text()[:8], rec: newRecorder("DATA")}
	r := &SMTPReport{
		Server: o.Server.Addr, Messages: o.Messages, Connections: o.Connections, Mailboxes: o.Recipients.Count,
		Size: o.Size.String(), StartTLS: o.Server.StartTLS, Started: time.Now(),
	}
	// Every connection greets before the clock starts, so that a server
	// that is not there is an error, and connection setup is not counted.
	clients := make([]*smtpClient, o.Connections)
	for i := range clients {
		c, err := l.dial(ctx, i)
		if err != nil {
			for _, c := range clients[:i] {
				c.Close()
			}
			return nil, err
		}
		clients[i] = c
	}
	stop := ticker(ctx, o.Progress, func(el time.Duration) string {
		ok, _ := l.rec.counts()
		return fmt.Sprintf("smtp %4.0fs: sent %d/%d  accepted %d  refused %d  failed %d  %.0f msg/s",
			el.Seconds(), min(int(l.next.Load()), o.Messages), o.Messages, ok,
			l.deferred.Load()+l.rejected.Load(), l.failed.Load(), float64(ok)/el.Seconds())
	})
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { l.connection(ctx, c, i) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	stats := l.rec.stats(elapsed)
	r.Latency = stats[0]
	r.Accepted = r.Latency.Count
	r.Deferred, r.Rejected, r.Failed = int(l.deferred.Load()), int(l.rejected.Load()), int(l.failed.Load())
	r.Bytes = l.bytes.Load()
	r.Elapsed = seconds(elapsed)
	r.PerSecond = r.Latency.PerSecond
	r.MBPerSecond = float64(r.Bytes) / 1e6 / elapsed.Seconds()
	r.Errors = l.errorSamples()
	if r.Accepted == 0 {
		return r, fmt.Errorf("the server at %s accepted none of %d messages; first errors: %v", o.Server.Addr, o.Messages, r.Errors)
	}
	return r, nil
}

// smtpLoad is the state shared by the connections of an SMTP load.
type smtpLoad struct {
	opts SMTPOptions
	run  string
	rec  *recorder
	next atomic.Int64 // index of the next message

	deferred, rejected, failed atomic.Int64
	bytes                      atomic.Int64

	mu     sync.Mutex
	errors []string // the first few, to show
}

func (l *smtpLoad) noteError(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errors) < 5 {
		l.errors = append(l.errors, err.Error())
	}
}

func (l *smtpLoad) errorSamples() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.errors
}

// connection sends messages until there are none left, reconnecting after
// a lost connection; it gives up when it cannot reconnect.
func (l *smtpLoad) connection(ctx context.Context, c *smtpClient, id int) {
	rnd := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	defer func() {
		if c != nil {
			c.Quit()
			c.Close()
		}
	}()
	for ctx.Err() == nil {
		i := int(l.next.Add(1) - 1)
		if i >= l.opts.Messages {
			return
		}
		if c == nil {
			var err error
			if c, err = l.dial(ctx, id); err != nil {
				l.failed.Add(1)
				l.noteError(err)
				return
			}
		}
		to := l.opts.Recipients.name(i)
		msg := stuff(compose(rnd, l.run, i, l.opts.From, to, time.Now(), l.opts.Size.pick(rnd)))
		took, err := c.send(l.opts.From, to, msg)
		code := replyCode(err)
		switch {
		case err == nil:
			l.rec.observe("DATA", took)
			l.bytes.Add(int64(len(msg)))
			continue
		case code/100 == 4:
			l.deferred.Add(1)
		case code/100 == 5:
			l.rejected.Add(1)
		default:
			l.failed.Add(1)
		}
		l.rec.fail("DATA")
		l.noteError(fmt.Errorf("message %d to %s: %w", i, to, err))
		// A refusal leaves the session usable once RSET clears the
		// transaction; anything else needs a new connection.
		if code == 0 || c.Reset() != nil {
			c.Close()
			c = nil
		}
	}
}

// dial connects connection id to its server, greets and, if asked, starts
// TLS.
func (l *smtpLoad) dial(ctx context.Context, id int) (*smtpClient, error) {
	srv := l.opts.Server.For(id)
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", srv.Addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to the SMTP server: %w; is it running and listening there?", err)
	}
	var tlsConfig *tls.Config
	if srv.StartTLS {
		tlsConfig = srv.tlsConfig()
	}
	c, err := dialSMTP(conn, l.opts.HelloName, tlsConfig, smtpTimeout)
	if err == nil && l.opts.Username != "" {
		if err = c.auth(l.opts.Username, l.opts.Password); err != nil {
			c.Close()
			return nil, fmt.Errorf("AUTH PLAIN as %s at %s: %w", l.opts.Username, srv.Addr, err)
		}
	}
	if err != nil {
		if tlsConfig != nil {
			return nil, fmt.Errorf("STARTTLS with the SMTP server at %s: %w; without --insecure its certificate must verify", srv.Addr, err)
		}
		return nil, fmt.Errorf("greeting the SMTP server at %s: %w", srv.Addr, err)
	}
	return c, nil
}
