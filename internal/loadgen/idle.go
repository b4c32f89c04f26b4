package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// IdleOptions configures a load of connections waiting in IDLE.
type IdleOptions struct {
	Server      Conn
	Connections int
	// Users are the accounts the connections log in to, in turn.
	Users Users
	// Hold is how long every connection stays in IDLE once all are open.
	Hold time.Duration
	// Parallel is how many connections are opened at once; default 50.
	Parallel int
	// PIDs are the server's processes whose memory is read before and
	// after, with their descendants; none skips the measurement.
	PIDs     []int
	Progress io.Writer
}

// IdleReport is what an IDLE load measured.
type IdleReport struct {
	Server      string  `json:"server"`
	Connections int     `json:"connections"`
	Idling      int     `json:"idling"` // in IDLE when the memory was read
	Failed      int     `json:"failed"`
	Dropped     int     `json:"dropped"` // closed by the server during the hold
	Setup       Seconds `json:"setup_s"`
	Hold        Seconds `json:"hold_s"`
	Open        Stat    `json:"open"` // connect, LOGIN, SELECT, IDLE
	// Before and After are the server's memory before the first
	// connection and after the hold, when PIDs were given.
	Before *Memory `json:"before,omitempty"`
	After  *Memory `json:"after,omitempty"`
	// RSSPerConnection and PSSPerConnection are the growth divided by
	// the connections idling.
	RSSPerConnection float64   `json:"rss_per_connection_bytes,omitempty"`
	PSSPerConnection float64   `json:"pss_per_connection_bytes,omitempty"`
	Samples          []string  `json:"error_samples,omitempty"`
	Started          time.Time `json:"started"`
}

func (o *IdleOptions) check() error {
	switch {
	case o.Server.Addr == "":
		return errors.New("no IMAP server address given")
	case o.Connections < 1:
		return fmt.Errorf("the number of connections must be at least 1, not %d", o.Connections)
	case o.Hold < 0:
		return errors.New("the hold time must not be negative")
	}
	if o.Parallel < 1 {
		o.Parallel = 50
	}
	return o.Users.check()
}

// Idle opens o.Connections connections, each logged in with INBOX
// selected and in IDLE, holds them for o.Hold, and reports how much the
// server's memory grew per connection.
func Idle(ctx context.Context, o IdleOptions) (*IdleReport, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	r := &IdleReport{Server: o.Server.Addr, Connections: o.Connections, Started: time.Now()}
	if len(o.PIDs) > 0 {
		m, err := readMemory(o.PIDs)
		if err != nil {
			return nil, fmt.Errorf("reading the server's memory: %w", err)
		}
		r.Before = &m
	}
	c, err := login(ctx, o.Server.For(0), o.Users.name(0), o.Users.Password)
	if err != nil {
		return nil, err
	}
	c.Logout().Wait()
	c.Close()

	rec := newRecorder("open")
	samples := &errorSamples{}
	conns := make([]*idler, o.Connections)
	var next atomic.Int64
	stop := ticker(ctx, o.Progress, func(el time.Duration) string {
		ok, failed := rec.counts()
		return fmt.Sprintf("idle %4.0fs: %d/%d connections idling  %d failed", el.Seconds(), ok, o.Connections, failed)
	})
	start := time.Now()
	var wg sync.WaitGroup
	for range o.Parallel {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= o.Connections {
					return
				}
				t := time.Now()
				id, err := openIdler(ctx, o.Server.For(i), o.Users.name(i), o.Users.Password)
				if err != nil {
					rec.fail("open")
					samples.add("open", err)
					continue
				}
				rec.observe("open", time.Since(t))
				conns[i] = id
			}
		})
	}
	wg.Wait()
	setup := time.Since(start)
	r.Setup = seconds(setup)
	defer closeIdlers(conns)
	if err := ctx.Err(); err != nil {
		stop()
		return nil, err
	}
	select {
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	case <-time.After(o.Hold):
	}
	r.Hold = seconds(o.Hold)
	for _, id := range conns {
		switch {
		case id == nil:
			r.Failed++
		case id.closed():
			r.Dropped++
		default:
			r.Idling++
		}
	}
	if len(o.PIDs) > 0 {
		m, err := readMemory(o.PIDs)
		if err != nil {
			stop()
			return nil, fmt.Errorf("reading the server's memory after the hold: %w", err)
		}
		r.After = &m
		if r.Idling > 0 {
			r.RSSPerConnection = float64(m.RSS-r.Before.RSS) / float64(r.Idling)
			if m.PSS > 0 {
				r.PSSPerConnection = float64(m.PSS-r.Before.PSS) / float64(r.Idling)
			}
		}
	}
	stop()
	r.Open = rec.stats(setup)[0]
	r.Samples = samples.list()
	if r.Idling == 0 {
		return r, fmt.Errorf("no connection stayed in IDLE; first errors: %v", r.Samples)
	}
	return r, nil
}

// idler is a connection waiting in IDLE.
type idler struct {
	c    *imapclient.Client
	idle *imapclient.IdleCommand
}

func openIdler(ctx context.Context, srv Conn, user, password string) (*idler, error) {
	c, err := login(ctx, srv, user, password)
	if err != nil {
		return nil, err
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("SELECT INBOX as %s: %w", user, err)
	}
	cmd, err := c.Idle()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("IDLE as %s: %w", user, err)
	}
	return &idler{c: c, idle: cmd}, nil
}

// closed reports whether the server closed the connection.
func (id *idler) closed() bool {
	select {
	case <-id.c.Closed():
		return true
	default:
		return false
	}
}

// closeIdlers ends IDLE and logs out on every connection, many at once.
func closeIdlers(conns []*idler) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 100)
	for _, id := range conns {
		if id == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if id.idle.Close() == nil && id.idle.Wait() == nil {
				id.c.Logout().Wait()
			}
			id.c.Close()
		})
	}
	wg.Wait()
}
