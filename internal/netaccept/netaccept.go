// Package netaccept holds the accept loop that the SMTP, POP3 and
// ManageSieve servers share.
package netaccept

import (
	"errors"
	"log/slog"
	"net"
	"time"
)

// Loop accepts connections on l and hands each to serve, which must not
// block. A failed accept (out of file descriptors, a client gone before
// accept) is retried after a wait that doubles up to a second, rather than
// giving up the listener. Loop returns nil once closing reports true, and
// the accept error once the listener is closed under it.
func Loop(l net.Listener, closing func() bool, log *slog.Logger, serve func(net.Conn)) error {
	var backoff time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			if closing() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			log.Warn("accept failed; retrying", "listener", l.Addr().String(), "err", err, "retry", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		serve(conn)
	}
}
