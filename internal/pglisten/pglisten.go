// Package pglisten keeps a PostgreSQL connection listening on a
// notification channel, reconnecting when it is lost. The mailbox store
// and the directory use it so that a change committed on one node wakes
// the watchers of every node (DESIGN.md: notifications between nodes go
// through the database).
//
// A notification can be lost while no connection listens, so after each
// reconnection the owner is told to assume everything changed: its
// watchers read the change logs again, which are the record; the
// notifications only say when to look.
package pglisten

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Delays between attempts to reconnect the listening connection.
const (
	minRetry = 100 * time.Millisecond
	maxRetry = 5 * time.Second
)

// Handler is what a Listener calls.
type Handler struct {
	// Notify is called with the payload of each notification.
	Notify func(payload string)
	// Lost is called after each reconnection, for what was notified
	// while no connection listened.
	Lost func()
}

// Listener holds the listening connection.
type Listener struct {
	cfg     *pgx.ConnConfig
	channel string
	h       Handler
	log     *slog.Logger
	stop    context.CancelFunc
	done    chan struct{}
}

// Listen connects with cfg and LISTENs on channel, then goes on in the
// background until Close. The first connection is made before Listen
// returns, so that no watcher exists while nobody listens; its failure is
// Listen's. log gets a warning for each lost connection.
func Listen(ctx context.Context, cfg *pgx.ConnConfig, channel string, log *slog.Logger, h Handler) (*Listener, error) {
	l := &Listener{cfg: cfg, channel: channel, h: h, log: log, done: make(chan struct{})}
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	bg, stop := context.WithCancel(context.Background())
	l.stop = stop
	go l.run(bg, conn)
	return l, nil
}

// Close stops listening and waits for the connection to close.
func (l *Listener) Close() {
	l.stop()
	<-l.done
}

// run receives on conn, then reconnects and listens again until ctx
// ends.
func (l *Listener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	delay := minRetry
	for {
		err := l.receive(ctx, conn)
		conn.Close(context.Background())
		for err != nil {
			if ctx.Err() != nil {
				return
			}
			l.log.Warn("notifications from other nodes lost; reconnecting", "channel", l.channel, "err", err, "retry", delay)
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, maxRetry)
			conn, err = l.connect(ctx)
		}
		delay = minRetry
		l.h.Lost()
	}
}

// connect opens a connection and LISTENs on it.
func (l *Listener) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("listen: %w", err)
	}
	return conn, nil
}

// receive passes on each notification until the connection fails or ctx
// ends.
func (l *Listener) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		l.h.Notify(n.Payload)
	}
}
