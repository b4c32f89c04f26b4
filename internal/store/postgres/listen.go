package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"casella/internal/store"
	"casella/internal/store/sqlstore"
)

// Delays between attempts to reconnect the listening connection.
const (
	minRetry = 100 * time.Millisecond
	maxRetry = 5 * time.Second
)

// listener holds the connection that LISTENs for other nodes' changes and
// wakes the store's watchers.
type listener struct {
	cfg  *pgx.ConnConfig
	node string // this Store's name in notifications
	st   *sqlstore.Store
	log  *slog.Logger
	stop context.CancelFunc
	done chan struct{}
}

// listen connects and LISTENs, then goes on in the background until
// close. The first connection is made before listen returns, so that no
// watcher can exist while nobody listens without being woken later.
func listen(ctx context.Context, cfg *pgx.ConnConfig, node string, st *sqlstore.Store, log *slog.Logger) (*listener, error) {
	conn, err := connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	bg, stop := context.WithCancel(context.Background())
	l := &listener{cfg: cfg, node: node, st: st, log: log, stop: stop, done: make(chan struct{})}
	go l.run(bg, conn)
	return l, nil
}

func (l *listener) close() {
	l.stop()
	<-l.done
}

// run receives on conn, then reconnects and listens again until ctx
// ends. After every new LISTEN every watcher is woken: whatever was
// committed while no connection listened is then found in the change log.
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
			l.log.Warn("mailbox store: change notifications lost; reconnecting", "err", err, "retry", delay)
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, maxRetry)
			conn, err = connect(ctx, l.cfg)
		}
		delay = minRetry
		l.st.WakeAll()
	}
}

// connect opens a connection and LISTENs on it.
func connect(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("listen: %w", err)
	}
	return conn, nil
}

// receive wakes the watchers of each notified account until the
// connection fails or ctx ends.
func (l *listener) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		node, acct, _ := strings.Cut(n.Payload, ":")
		if node == l.node {
			continue
		}
		id, err := strconv.ParseInt(acct, 10, 64)
		if err != nil {
			l.log.Warn("mailbox store: ignoring a change notification", "payload", n.Payload)
			continue
		}
		l.st.Wake(store.Account(id))
	}
}
