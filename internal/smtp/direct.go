package smtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/dane"
	"casella/internal/limit"
	"casella/internal/message"
	"casella/internal/mtasts"
	"casella/internal/resolver"
	"casella/internal/tlsrpt"
)

// Defaults of direct delivery.
const (
	// DefaultPerDomain bounds concurrent connections to one destination
	// domain, as Postfix's default_destination_concurrency_limit does.
	DefaultPerDomain = 20
	// idleTime is how long a connection is kept for the next message to
	// the same host; short, because the remote end also closes idle
	// sessions (RFC 5321 section 4.5.3.2.7 gives the server 5 minutes).
	idleTime = 30 * time.Second
	// maxIdle is how many idle connections are kept per host.
	maxIdle = 4
)

// Direct delivers mail to the recipient domain's mail exchangers itself
// (RFC 5321 section 5.1): the default when no smarthost is set. It is safe
// for concurrent use.
type Direct struct {
	Resolver *resolver.Resolver
	// Port is the SMTP port of mail exchangers; "" means 25. Only tests
	// and unusual networks set it.
	Port string
	// Hostname is this server's name for EHLO.
	Hostname string
	// Timeout bounds one message's delivery over all its exchangers; 0
	// means DefaultRelayTimeout.
	Timeout time.Duration
	// PerDomain bounds concurrent deliveries to one domain; 0 means
	// DefaultPerDomain.
	PerDomain int
	// Rate bounds messages per destination domain over time, as
	// receivers that throttle a busy sender ask (their 421s and 450s
	// would otherwise come back as failures); nil sets no limit. A message
	// over it waits in the queue for its next retry.
	Rate *limit.Rate
	// Refused, when set, is told "destination_rate" for each message Rate
	// holds back.
	Refused func(reason string)
	// STS finds the MTA-STS policies (RFC 8461) to enforce; nil enforces
	// none.
	STS *mtasts.Fetcher
	// RootCAs verify exchangers under an MTA-STS policy; nil means the
	// system's.
	RootCAs *x509.CertPool
	// Reports records the outcome of TLS sessions for daily TLS reports
	// (RFC 8460); nil records none.
	Reports *tlsrpt.Recorder
	Logger  *slog.Logger

	mu    sync.Mutex
	idle  map[string][]*mxConn // by exchanger address and TLS policy
	slots map[string]*slots    // by domain
}

// mxConn is an open connection to an exchanger.
type mxConn struct {
	c     *gosmtp.Client
	conn  net.Conn // under c, closed to interrupt it
	tls   bool
	since time.Time // idle since
}

// tlsPolicy is how TLS must be used with one exchanger. Without a policy,
// TLS is opportunistic (RFC 7435): STARTTLS when offered, any certificate
// accepted, plain text when the handshake fails. Under DANE (RFC 7672) or
// an MTA-STS policy in enforce mode (RFC 8461), TLS is required with a
// certificate the policy accepts, and a failure fails the exchanger.
type tlsPolicy struct {
	name   string      // opportunistic, dane or mta-sts; logged, and keys idle connections
	config *tls.Config // nil for opportunistic
	// domain, kind and text describe the policy in TLS reports (RFC 8460
	// section 4.4).
	domain, kind string
	text         []string
}

// slots bounds concurrent deliveries to one domain; users counts those
// holding or waiting for one, so that the entry goes when none does.
type slots struct {
	ch    chan struct{}
	users int
}

// errDestinationRate is the temporary failure of a message held back by
// Direct.Rate.
var errDestinationRate = errors.New("the destination rate limit (smtp.destination_messages_per_minute)")

// errRoute is a permanent failure found before any exchanger answered,
// with the reply code and enhanced status a DSN reports for it.
func errRoute(code int, status gosmtp.EnhancedCode, format string, args ...any) error {
	return &gosmtp.SMTPError{Code: code, EnhancedCode: status, Message: fmt.Sprintf(format, args...)}
}

// Deliver sends data from from to to through to's domain's exchangers, in
// preference order, and returns the exchanger that took it. A 5xx reply,
// a null MX or a domain that does not exist returns an *SMTPError with a
// 5xx code; anything else is temporary.
func (d *Direct) Deliver(ctx context.Context, from, to string, data []byte) (string, error) {
	host, _, err := d.deliver(ctx, from, to, data, false)
	return host, err
}

// DeliverRequireTLS delivers a message sent with REQUIRETLS (RFC 8689
// section 5): only to an exchanger whose name DNSSEC or an MTA-STS policy
// (in testing mode too) vouches for, over TLS verified by DANE or by its
// certificate for that name, and which takes REQUIRETLS in turn. When no
// exchanger can, the failure is permanent (5.7.30), not retried.
func (d *Direct) DeliverRequireTLS(ctx context.Context, from, to string, data []byte) (string, error) {
	host, _, err := d.deliver(ctx, from, to, data, true)
	return host, err
}

// deliver is Deliver or, with requireTLS, DeliverRequireTLS, that also
// returns the exchanger's reply to the end of data.
func (d *Direct) deliver(ctx context.Context, from, to string, data []byte, requireTLS bool) (host, reply string, err error) {
	at := strings.LastIndexByte(to, '@')
	if at < 0 {
		return "", "", errRoute(550, gosmtp.EnhancedCode{5, 1, 3}, "recipient %q has no domain", to)
	}
	domain := strings.ToLower(to[at+1:])
	if !d.Rate.Allow(domain) {
		if d.Refused != nil {
			d.Refused("destination_rate")
		}
		d.logger().Info("direct: destination rate limit reached; message held for a later attempt", "domain", domain, "rcpt", to)
		return "", "", fmt.Errorf("%w of %s reached", errDestinationRate, domain)
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = DefaultRelayTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	hosts, authentic, err := d.exchangers(ctx, domain)
	if err != nil {
		return "", "", err
	}
	// RFC 8689 sections 4.2.2 and 5: a message whose sender wrote
	// "TLS-Required: No" goes with opportunistic TLS, whatever the
	// domain's DANE or MTA-STS policy says; with REQUIRETLS the field is
	// ignored.
	relaxed := !requireTLS && tlsNotRequired(data)
	if relaxed {
		authentic = false // no DANE
		d.logger().Info("direct: TLS-Required: No; the domain's TLS policies are not applied", "domain", domain, "rcpt", to)
	}
	var sts *mtasts.Policy
	if d.STS != nil && !relaxed {
		if sts, err = d.STS.Policy(ctx, domain); err != nil {
			d.logger().Info("direct: no MTA-STS policy could be fetched; delivering without", "domain", domain, "err", err)
			d.report(tlsPolicy{domain: domain, kind: tlsrpt.PolicySTS}, "", "sts-policy-fetch-error")
		}
	}
	enforce := sts != nil && sts.Mode == mtasts.Enforce
	release, err := d.acquire(ctx, domain)
	if err != nil {
		return "", "", err
	}
	defer release()

	// tlsErr is the last exchanger refused for REQUIRETLS's conditions,
	// last the last other failure.
	var last, tlsErr error
	for _, host := range hosts {
		if enforce && !sts.Matches(host) {
			last = fmt.Errorf("exchanger %s is not one the MTA-STS policy of %s names", host, domain)
			continue
		}
		addrs, err := d.Resolver.Addrs(ctx, host)
		if err != nil {
			last = fmt.Errorf("exchanger %s: %w", host, err)
			continue
		}
		pol, err := d.policy(ctx, host, authentic && addrs.Authentic, sts, requireTLS)
		if err != nil {
			last = err
			continue
		}
		if requireTLS && pol.config == nil {
			tlsErr = errRequireTLS("neither DNSSEC nor an MTA-STS policy vouches for exchanger %s", host)
			continue
		}
		pol.domain = domain
		for _, a := range addrs.Records {
			addr := net.JoinHostPort(a.String(), d.port())
			reply, err := d.send(ctx, host, addr, from, to, data, pol, requireTLS)
			if err == nil {
				return host, reply, nil
			}
			if isPermanent(err) {
				return host, "", fmt.Errorf("exchanger %s (%s): %w", host, addr, err)
			}
			// A temporary failure of one exchanger sends the message to the
			// next (RFC 5321 section 5.1).
			last = fmt.Errorf("exchanger %s (%s, %s TLS): %w", host, addr, pol.name, err)
			d.logger().Debug("direct: exchanger failed, trying the next", "domain", domain, "host", host, "addr", addr, "err", err)
		}
	}
	if last == nil && tlsErr != nil {
		// Every exchanger failed REQUIRETLS's conditions, which
		// retrying will not change.
		return "", "", tlsErr
	}
	return "", "", last
}

// tlsNotRequired reports whether msg's header has "TLS-Required: No"
// (RFC 8689 section 5), by which its sender asks that the recipients'
// TLS policies not keep it from them.
func tlsNotRequired(msg []byte) bool {
	fields, _ := message.Header(msg)
	for _, f := range fields {
		if strings.EqualFold(f.Name, "TLS-Required") && strings.EqualFold(strings.TrimSpace(message.Unfold(f.Value)), "No") {
			return true
		}
	}
	return false
}

// policy returns how to use TLS with host. DANE applies when the MX and
// address lookups were authentic and the host has usable TLSA records; it
// takes precedence over MTA-STS (RFC 8461 section 2). For a REQUIRETLS
// message, an MTA-STS policy in testing mode that names host is enforced,
// and an authentic host without TLSA records is verified by its
// certificate (RFC 8689 section 5).
func (d *Direct) policy(ctx context.Context, host string, authentic bool, sts *mtasts.Policy, requireTLS bool) (tlsPolicy, error) {
	if authentic {
		res, err := d.Resolver.TLSA(ctx, "_25._tcp."+host)
		switch {
		case errors.Is(err, resolver.ErrNotFound):
		case err != nil:
			// RFC 7672 section 2.2: a secure host whose TLSA records cannot
			// be looked up is not used.
			return tlsPolicy{}, fmt.Errorf("exchanger %s: looking up its TLSA records: %w", host, err)
		case res.Authentic:
			if cfg, err := dane.Config(host, res.Records); err == nil {
				var text []string
				for _, r := range dane.Usable(res.Records) {
					text = append(text, fmt.Sprintf("%d %d %d %x", r.Usage, r.Selector, r.MatchingType, r.Data))
				}
				return tlsPolicy{name: "dane", config: cfg, kind: tlsrpt.PolicyTLSA, text: text}, nil
			}
		}
	}
	if sts != nil && (sts.Mode == mtasts.Enforce || requireTLS && sts.Mode == mtasts.Testing && sts.Matches(host)) {
		return tlsPolicy{name: "mta-sts", config: &tls.Config{ServerName: host, RootCAs: d.RootCAs, MinVersion: tls.VersionTLS12},
			kind: tlsrpt.PolicySTS, text: sts.Lines()}, nil
	}
	if requireTLS && authentic {
		return tlsPolicy{name: "dnssec", config: &tls.Config{ServerName: host, RootCAs: d.RootCAs, MinVersion: tls.VersionTLS12},
			kind: tlsrpt.PolicyNone}, nil
	}
	return tlsPolicy{name: "opportunistic", kind: tlsrpt.PolicyNone}, nil
}

// report records a TLS session's outcome for TLS reports; failure is a
// result type of RFC 8460 section 4.3, "" for a success.
func (d *Direct) report(pol tlsPolicy, host, failure string) {
	if d.Reports != nil {
		d.Reports.Record(tlsrpt.Event{Domain: pol.domain, PolicyType: pol.kind, Policy: pol.text, MX: host, Failure: failure})
	}
}

// exchangers returns the hosts to try for domain: its MX hosts in order,
// or the domain itself when it has no MX (the implicit MX of RFC 5321
// section 5.1), and whether DNSSEC vouched for them.
func (d *Direct) exchangers(ctx context.Context, domain string) ([]string, bool, error) {
	res, err := d.Resolver.MX(ctx, domain)
	switch {
	case errors.Is(err, resolver.ErrNotFound):
		addrs, aerr := d.Resolver.Addrs(ctx, domain)
		if aerr != nil {
			if errors.Is(aerr, resolver.ErrNotFound) {
				return nil, false, errRoute(550, gosmtp.EnhancedCode{5, 1, 2}, "domain %s has no mail exchanger and no address", domain)
			}
			return nil, false, fmt.Errorf("looking up %s: %w", domain, aerr)
		}
		return []string{domain}, addrs.Authentic, nil
	case err != nil:
		return nil, false, fmt.Errorf("looking up the MX of %s: %w", domain, err)
	}
	// RFC 7505 section 4.2: a null MX says the domain takes no mail; the
	// bounce carries 556 5.1.10.
	if len(res.Records) == 1 && res.Records[0].Host == "" {
		return nil, false, errRoute(556, gosmtp.EnhancedCode{5, 1, 10}, "domain %s does not accept mail (null MX)", domain)
	}
	hosts := make([]string, 0, len(res.Records))
	for _, mx := range res.Records {
		if mx.Host != "" {
			hosts = append(hosts, mx.Host)
		}
	}
	return hosts, res.Authentic, nil
}

// send runs one transaction with the exchanger at addr, on an idle
// connection when there is one, and returns its reply.
func (d *Direct) send(ctx context.Context, host, addr, from, to string, data []byte, pol tlsPolicy, requireTLS bool) (string, error) {
	// A connection verified for one exchanger name under one policy serves
	// only the same again.
	key := addr + " " + host + " " + pol.name
	if s, ok := d.takeIdle(key); ok {
		reply, err := s.transact(ctx, from, to, data, requireTLS)
		var se *gosmtp.SMTPError
		if err == nil || errors.As(err, &se) {
			d.finish(key, s, err)
			return reply, err
		}
		// The exchanger closed the idle connection: open another.
		s.c.Close()
	}
	s, err := d.dial(ctx, host, addr, pol)
	if err != nil {
		return "", err
	}
	reply, err := s.transact(ctx, from, to, data, requireTLS)
	d.finish(key, s, err)
	if err == nil {
		d.logger().Info("direct: delivered", "rcpt", to, "host", host, "addr", addr, "tls", s.tls, "policy", pol.name)
	}
	return reply, err
}

// transact runs one transaction; cancelling ctx interrupts it.
func (s *mxConn) transact(ctx context.Context, from, to string, data []byte, requireTLS bool) (string, error) {
	stop := context.AfterFunc(ctx, func() { s.conn.Close() })
	defer stop()
	return transact(s.c, from, to, data, requireTLS)
}

// dial connects to an exchanger with STARTTLS (RFC 3207). Under a policy
// any failure is final; opportunistic TLS goes on without TLS when the
// exchanger does not offer it or the handshake fails (RFC 7435 section 3).
func (d *Direct) dial(ctx context.Context, host, addr string, pol tlsPolicy) (*mxConn, error) {
	cfg := pol.config
	if cfg == nil {
		cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}
	}
	s, err := d.connect(ctx, addr, cfg)
	var se *gosmtp.SMTPError
	switch {
	case err == nil:
		d.report(pol, host, "")
		return s, nil
	case errors.As(err, &se) && se.Code != 454:
		// The exchanger refused us, not TLS: 454 is "TLS not available".
		return nil, err
	}
	d.report(pol, host, tlsrpt.Classify(err))
	if pol.config != nil {
		return nil, err
	}
	d.logger().Debug("direct: no TLS with exchanger, sending in plain text", "host", host, "addr", addr, "err", err)
	return d.connect(ctx, addr, nil)
}

// connect opens a session, with STARTTLS when tlsConfig is not nil.
func (d *Direct) connect(ctx context.Context, addr string, tlsConfig *tls.Config) (*mxConn, error) {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var c *gosmtp.Client
	if tlsConfig != nil {
		// go-smtp sends the first EHLO, before STARTTLS, as "localhost";
		// the EHLO after it, which the exchanger's policies see, carries
		// our name.
		if c, err = gosmtp.NewClientStartTLS(conn, tlsConfig); err != nil {
			return nil, fmt.Errorf("starting TLS: %w", err)
		}
	} else {
		c = gosmtp.NewClient(conn)
	}
	// The TLS handshake happens here, with the first write after STARTTLS:
	// a certificate the policy refuses fails it.
	if err := c.Hello(d.Hostname); err != nil {
		c.Close()
		return nil, fmt.Errorf("EHLO: %w", err)
	}
	return &mxConn{c: c, conn: conn, tls: tlsConfig != nil}, nil
}

// finish keeps a connection whose transaction ended cleanly for the next
// message to the same exchanger, and closes the others.
func (d *Direct) finish(key string, s *mxConn, err error) {
	var se *gosmtp.SMTPError
	if err != nil && !errors.As(err, &se) || s.c.Reset() != nil {
		s.c.Close()
		return
	}
	s.since = time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.idle == nil {
		d.idle = map[string][]*mxConn{}
	}
	d.sweepLocked(s.since)
	if len(d.idle[key]) >= maxIdle {
		go s.c.Quit()
		return
	}
	d.idle[key] = append(d.idle[key], s)
}

func (d *Direct) takeIdle(key string) (*mxConn, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sweepLocked(time.Now())
	list := d.idle[key]
	if len(list) == 0 {
		return nil, false
	}
	s := list[len(list)-1]
	d.idle[key] = list[:len(list)-1]
	return s, true
}

// sweepLocked closes connections idle for longer than idleTime.
func (d *Direct) sweepLocked(now time.Time) {
	for addr, list := range d.idle {
		keep := list[:0]
		for _, s := range list {
			if now.Sub(s.since) < idleTime {
				keep = append(keep, s)
			} else {
				s.c.Close()
			}
		}
		if len(keep) == 0 {
			delete(d.idle, addr)
		} else {
			d.idle[addr] = keep
		}
	}
}

// Close closes the idle connections.
func (d *Direct) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, list := range d.idle {
		for _, s := range list {
			s.c.Close()
		}
	}
	d.idle = nil
}

// acquire takes one of domain's concurrency slots.
func (d *Direct) acquire(ctx context.Context, domain string) (func(), error) {
	d.mu.Lock()
	if d.slots == nil {
		d.slots = map[string]*slots{}
	}
	sl, ok := d.slots[domain]
	if !ok {
		n := d.PerDomain
		if n <= 0 {
			n = DefaultPerDomain
		}
		sl = &slots{ch: make(chan struct{}, n)}
		d.slots[domain] = sl
	}
	sl.users++
	d.mu.Unlock()
	leave := func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if sl.users--; sl.users == 0 {
			delete(d.slots, domain)
		}
	}
	select {
	case sl.ch <- struct{}{}:
		return func() { <-sl.ch; leave() }, nil
	case <-ctx.Done():
		leave()
		return nil, fmt.Errorf("waiting for a connection slot to %s: %w", domain, ctx.Err())
	}
}

func (d *Direct) port() string {
	if d.Port == "" {
		return "25"
	}
	return d.Port
}

func (d *Direct) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

// isPermanent reports whether err is a 5xx reply.
func isPermanent(err error) bool {
	var se *gosmtp.SMTPError
	return errors.As(err, &se) && se.Code >= 500 && se.Code < 600
}
