package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"casella/internal/directory/sqldir"
	"casella/internal/store"
)

// sieveChannel is the channel of the notifications of changed Sieve
// scripts; the payload is the account's id. Every node listens on it, so
// that a change made over ManageSieve or JMAP on one node is pushed to
// the JMAP clients of every node (DESIGN.md: notifications between nodes
// go through the database).
const sieveChannel = "casella_directory_sieve"

// Delays between attempts to reconnect the listening connection.
const (
	minRetry = 100 * time.Millisecond
	maxRetry = 5 * time.Second
)

// listener holds the connection that LISTENs for other nodes' changes of
// scripts and wakes the directory's watchers of them.
type listener struct {
	cfg  *pgx.ConnConfig
	d    *sqldir.Dir
	log  *slog.Logger
	stop context.CancelFunc
	done chan struct{}
}

// listen connects and LISTENs, then goes on in the background until
// close. The first connection is made before listen returns, so that no
// watcher exists while nobody listens.
func listen(ctx context.Context, cfg *pgx.ConnConfig, d *sqldir.Dir, log *slog.Logger) (*listener, error) {
	conn, err := connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	bg, stop := context.WithCancel(context.Background())
	l := &listener{cfg: cfg, d: d, log: log, stop: stop, done: make(chan struct{})}
	go l.run(bg, conn)
	return l, nil
}

func (l *listener) close() {
	l.stop()
	<-l.done
}

// run receives on conn, then reconnects and listens again until ctx
// ends. After every new LISTEN every watcher is woken: what was
// committed while no connection listened is then read from the change
// log.
func (l *listener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	delay := minRetry
	for {
		err := l.receive(ctx, conn)
		conn.Close(context.Background())
		for err != nil {
			if ctx.Err() != nil {
				return
			}
			l.log.Warn("directory: notifications of sieve script changes lost; reconnecting", "err", err, "retry", delay)
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, maxRetry)
			conn, err = connect(ctx, l.cfg)
		}
		delay = minRetry
		l.d.WakeAllSieve()
	}
}

// connect opens a connection and LISTENs on it.
func connect(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+sieveChannel); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("listen: %w", err)
	}
	return conn, nil
}

// receive wakes the watchers of each notified account until the
// connection fails or ctx ends. This node's own changes come back too;
// waking their watchers again costs one state read.
func (l *listener) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		id, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil {
			l.log.Warn("directory: ignoring a notification", "payload", n.Payload)
			continue
		}
		l.d.WakeSieve(store.Account(id))
	}
}
