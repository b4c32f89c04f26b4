package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/spool"
	"casella/internal/srs"
)

// DefaultRelayTimeout bounds one delivery attempt to the smarthost.
const DefaultRelayTimeout = 5 * time.Minute

// Relay delivers the outbound queue through a smarthost or, without one,
// to the recipients' mail exchangers. It is the outbound spool's Handler,
// and its OnPermanent sends delivery status notifications to local
// senders.
type Relay struct {
	// Smarthost is host:port of the relay server; "" delivers through
	// Direct.
	Smarthost string
	// Direct delivers to mail exchangers when there is no smarthost; nil
	// holds all mail in the queue.
	Direct *Direct
	// Username and Password, when Username is set, log in with AUTH
	// PLAIN (RFC 4616), which needs TLS.
	Username, Password string
	// TLSMode is "starttls" (the default, RFC 3207), "tls" (implicit,
	// RFC 8314) or "none".
	TLSMode string
	// TLSConfig, if set, verifies the smarthost (a private CA, say); by
	// default its name is checked against the system roots.
	TLSConfig *tls.Config
	// Hostname is this server's name for EHLO and in DSNs.
	Hostname string
	// Lifetime is how long the queue retries a message, for the
	// Will-Retry-Until of delay notices.
	Lifetime time.Duration
	// Timeout bounds one attempt; 0 means DefaultRelayTimeout.
	Timeout time.Duration
	// Logger receives delivery logs; nil means slog.Default().
	Logger *slog.Logger

	// Bounce receives DSNs for local senders: the inbound spool.
	Bounce Enqueuer
	// Directory finds the account of a DSN's recipient.
	Directory Directory
	// SRS, when set, reverses an SRS-rewritten sender (a Sieve redirect's,
	// package srs), so the DSN goes to the original sender, through
	// Forward when that one is in another domain.
	SRS     *srs.Rewriter
	Forward Enqueuer
	// Queue is the outbound spool, read by OnPermanent for the failed
	// message's headers.
	Queue interface {
		Get(ctx context.Context, id string) (spool.Entry, []byte, error)
	}
}

// errNoSmarthost keeps mail queued, visible in the queue listing, until a
// smarthost is configured.
var errNoSmarthost = errors.New("no smarthost configured and direct delivery off; message held in the queue")

// Handle delivers e's recipient rcpt through the smarthost or to its mail
// exchangers. A 5xx reply returns an error wrapping spool.ErrPermanent and
// the *gosmtp.SMTPError; a 4xx reply or a network failure returns a
// temporary error.
func (r *Relay) Handle(ctx context.Context, e *spool.Entry, data []byte, rcpt int) error {
	_, err := r.HandleReply(ctx, e, data, rcpt)
	return err
}

// HandleReply is Handle that also returns the reply of the server that
// took the message, to the end of its data (RFC 5321 section 4.2): the
// smtpReply of JMAP's deliveryStatus (RFC 8621 section 7).
func (r *Relay) HandleReply(ctx context.Context, e *spool.Entry, data []byte, rcpt int) (string, error) {
	if r.Smarthost == "" && r.Direct == nil {
		return "", errNoSmarthost
	}
	if rcpt < 0 || rcpt >= len(e.Envelope.Recipients) {
		return "", fmt.Errorf("relay %s: recipient %d out of range: %w", e.ID, rcpt, spool.ErrPermanent)
	}
	to := e.Envelope.Recipients[rcpt].Address
	via := r.Smarthost
	var reply string
	var err error
	if r.Smarthost != "" {
		reply, err = r.deliver(ctx, e.Envelope.From, to, data, e.Envelope.RequireTLS)
	} else {
		via, reply, err = r.Direct.deliver(ctx, e.Envelope.From, to, data, e.Envelope.RequireTLS)
	}
	log := r.logger().With("id", e.ID, "rcpt", to, "via", via)
	var se *gosmtp.SMTPError
	switch {
	case err == nil:
		log.Info("relay: delivered", "reply", reply)
		return reply, nil
	case errors.As(err, &se) && se.Code >= 500 && se.Code < 600:
		log.Info("relay: refused permanently", "err", err)
		return "", fmt.Errorf("relay to %s for <%s>: %w: %w", via, to, spool.ErrPermanent, se)
	default:
		log.Info("relay: failed temporarily", "err", err)
		// Another server's trouble, not our storage's: the queue retries
		// this recipient later without its breaker pausing the others.
		return "", fmt.Errorf("relay to %s for <%s>: %w: %w", via, to, spool.ErrDeferred, err)
	}
}

// deliver runs one SMTP transaction with the smarthost and returns its
// reply; with requireTLS (RFC 8689) only over TLS, whose certificate is
// always verified here.
func (r *Relay) deliver(ctx context.Context, from, to string, data []byte, requireTLS bool) (string, error) {
	if requireTLS && r.TLSMode == "none" {
		return "", errRequireTLS("the smarthost is reached without TLS (smarthost_tls = \"none\")")
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultRelayTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", r.Smarthost)
	if err != nil {
		return "", fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	// Cancellation (shutdown) interrupts a transaction in progress.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var c *gosmtp.Client
	switch r.TLSMode {
	case "tls":
		c = gosmtp.NewClient(tls.Client(conn, r.tlsConfig()))
	case "none":
		c = gosmtp.NewClient(conn)
	case "", "starttls":
		c, err = gosmtp.NewClientStartTLS(conn, r.tlsConfig())
		if err != nil {
			return "", fmt.Errorf("starting TLS: %w", err)
		}
	default:
		return "", fmt.Errorf("unknown TLS mode %q", r.TLSMode)
	}
	defer c.Close()
	if err := c.Hello(r.Hostname); err != nil {
		return "", fmt.Errorf("EHLO: %w", err)
	}
	if r.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", r.Username, r.Password)); err != nil {
			return "", fmt.Errorf("AUTH: %w", err)
		}
	}
	reply, err := transact(c, from, to, data, requireTLS)
	if err != nil {
		return "", err
	}
	// The message is accepted; a failing QUIT changes nothing.
	c.Quit()
	return reply, nil
}

// transact sends one message to one recipient on an open session and
// returns the reply to its end of data.
func transact(c *gosmtp.Client, from, to string, data []byte, requireTLS bool) (string, error) {
	opts := &gosmtp.MailOptions{Size: int64(len(data)), UTF8: !isASCII(from) || !isASCII(to), RequireTLS: requireTLS}
	// RFC 8689 section 5: the next hop must take REQUIRETLS in turn.
	if ok, _ := c.Extension("REQUIRETLS"); requireTLS && !ok {
		return "", errRequireTLS("the next hop does not support it")
	}
	if err := c.Mail(from, opts); err != nil {
		return "", fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to, nil); err != nil {
		return "", fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return "", fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return "", fmt.Errorf("sending message: %w", err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", fmt.Errorf("end of data: %w", err)
	}
	return "250 " + resp.StatusText, nil
}

// errRequireTLS is the permanent failure of a message sent with
// REQUIRETLS that cannot go on as RFC 8689 section 5 asks; its DSN says
// 5.7.30 (section 6).
func errRequireTLS(format string, args ...any) error {
	return errRoute(550, gosmtp.EnhancedCode{5, 7, 30}, "REQUIRETLS: "+format, args...)
}

func (r *Relay) tlsConfig() *tls.Config {
	if r.TLSConfig != nil {
		return r.TLSConfig
	}
	host, _, err := net.SplitHostPort(r.Smarthost)
	if err != nil {
		host = r.Smarthost
	}
	return &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
}

func (r *Relay) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}
