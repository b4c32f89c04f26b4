package loadgen

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// imapTimeout bounds the dial and greeting of an IMAP connection.
const imapTimeout = time.Minute

// dialIMAP connects to an IMAP server, with STARTTLS if asked, and waits
// for its greeting. Login is the caller's, so it can be timed.
func dialIMAP(ctx context.Context, srv Conn) (*imapclient.Client, error) {
	d := net.Dialer{Timeout: imapTimeout}
	conn, err := d.DialContext(ctx, "tcp", srv.Addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to the IMAP server: %w; is it running and listening there?", err)
	}
	opts := &imapclient.Options{TLSConfig: srv.tlsConfig()}
	conn.SetDeadline(time.Now().Add(imapTimeout))
	var c *imapclient.Client
	if srv.StartTLS {
		c, err = imapclient.NewStartTLS(conn, opts)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("STARTTLS with the IMAP server at %s: %w; without --insecure its certificate must verify", srv.Addr, err)
		}
	} else {
		c = imapclient.New(conn, opts)
		if err := c.WaitGreeting(); err != nil {
			c.Close()
			return nil, fmt.Errorf("reading the greeting of the IMAP server at %s: %w", srv.Addr, err)
		}
	}
	conn.SetDeadline(time.Time{})
	return c, nil
}

// login dials and logs in as user, for the setup of a load: failures are
// errors with advice, not measurements.
func login(ctx context.Context, srv Conn, user, password string) (*imapclient.Client, error) {
	c, err := dialIMAP(ctx, srv)
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("logging in to the IMAP server at %s as %s: %w; check the account and its password", srv.Addr, user, err)
	}
	return c, nil
}
