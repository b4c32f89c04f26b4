// Package server assembles a Casella server from its configuration: it
// opens the data directory's stores, builds the protocol servers over them,
// runs the delivery loops, and shuts everything down in order. cmd/casella
// only parses flags and calls it; tests can run many servers in one process.
//
// Implementation notes:
//   - Intake and the mailbox store are decoupled (DESIGN.md invariant 3):
//     SMTP writes to the spool, and only the delivery loop writes to the
//     store, so a store outage never stops intake.
//   - Shutdown stops accepting first, lets sessions finish until the
//     deadline, then stops the delivery loops and closes the stores last: a
//     message whose 250 was sent is in the spool, and a restart resumes it.
//   - Fault injection wraps the stores only when explicitly allowed.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"casella/internal/blob"
	"casella/internal/blob/replicated"
	"casella/internal/config"
	"casella/internal/directory/sqlitedir"
	"casella/internal/faults"
	"casella/internal/health"
	"casella/internal/imap"
	"casella/internal/limit"
	"casella/internal/pop3"
	"casella/internal/smtp"
	"casella/internal/spool"
	"casella/internal/store"
	"casella/internal/store/cache"
	"casella/internal/store/sqlite"
	"casella/internal/tlsconf"
	"casella/internal/web"
)

// Paths inside the data directory.
const (
	DirectoryFile = "directory.db"
	StoreFile     = "mail.db"
	BlobDir       = "blobs"
	SpoolDir      = "spool"
	QueueDir      = "queue"
)

// Options are what a server needs beyond its configuration.
type Options struct {
	Config      config.Config
	AllowFaults bool // mount fault injection (casella fault, drills)
	Logger      *slog.Logger
	Out         io.Writer // where the startup banner goes
}

// Server is a running Casella server.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	out     io.Writer
	metrics *metrics
	monitor *health.Monitor
	faults  *faults.Injector

	dir     *sqlitedir.Dir
	store   store.Store
	blobs   blob.Store
	blobSet *Blobs
	scrub   *replicated.Scrubber // nil unless the blob store is replicated and scrubbing is on
	spool   *spool.Spool
	queue   *spool.Spool

	smtp  *smtp.Server
	imap  *imap.Server
	pop3  *pop3.Server
	relay *smtp.Relay
	web   *web.Handler
	http  *httpServer

	listeners []listener
	demo      [2]string // address and password of a demo account made now

	cancel  context.CancelFunc
	loops   sync.WaitGroup
	closing atomic.Bool // Shutdown has begun: listeners' errors are expected
}

type listener struct {
	name string
	l    net.Listener
}

// Open opens the data directory and builds the server, without listening.
func Open(opts Options) (*Server, error) {
	cfg := opts.Config
	s := &Server{cfg: cfg, log: opts.Logger, out: opts.Out, metrics: newMetrics()}
	if s.out == nil {
		s.out = io.Discard
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory %s cannot be created: %w; choose another with --data or CASELLA_DATA", cfg.DataDir, err)
	}
	if err := checkWritable(cfg.DataDir); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.closeStores()
		}
	}()

	var err error
	if s.dir, err = sqlitedir.Open(filepath.Join(cfg.DataDir, DirectoryFile)); err != nil {
		return nil, fmt.Errorf("opening the directory: %w", err)
	}
	st, err := sqlite.Open(filepath.Join(cfg.DataDir, StoreFile))
	if err != nil {
		return nil, fmt.Errorf("opening the mailbox store: %w", err)
	}
	s.metrics.registry.MustRegister(st.Metrics())
	rows := cache.New(st, cache.Options{Limit: cfg.Store.CacheMessages, MinSpan: cache.DefaultMinSpan})
	s.metrics.watchCache(rows)
	s.store = rows
	if s.blobSet, err = OpenBlobs(context.Background(), cfg, s.log, replicated.NewMetrics(s.metrics.registry)); err != nil {
		return nil, err
	}
	s.blobs = s.blobSet.Store
	if s.scrub, err = s.blobSet.Scrubber(cfg, s.log); err != nil {
		return nil, err
	}
	if opts.AllowFaults {
		s.faults = faults.New(s.log.With("component", "faults"))
		s.store = faults.Store(s.store, s.faults)
		s.blobs = faults.Blobs(s.blobs, s.faults)
		s.log.Warn("fault injection is allowed on this server; never run it in production")
	}

	tlsConfig, err := tlsconf.Load(cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.DataDir, cfg.Hostname)
	if err != nil {
		return nil, fmt.Errorf("TLS: %w", err)
	}

	if err := s.openSpools(); err != nil {
		return nil, err
	}
	if err := s.makeDemo(); err != nil {
		return nil, err
	}
	s.buildProtocols(tlsConfig)
	s.buildWeb()
	ok = true
	return s, nil
}

// checkWritable fails clearly when the data directory cannot be written.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable: %w; fix its permissions or choose another with --data", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func (s *Server) openSpools() error {
	sc := s.cfg.Spool
	opts := func(queue string) spool.Options {
		return spool.Options{
			Workers:         sc.Workers,
			Batch:           sc.Batch,
			RetryMin:        sc.RetryMin.D(),
			RetryMax:        sc.RetryMax.D(),
			DrainRate:       sc.DrainRate,
			BreakerFailures: sc.BreakerFailures,
			BreakerCooldown: sc.BreakerCooldown.D(),
			Logger:          s.log.With("queue", queue),
			OnDelivered:     s.metrics.observeDelivered(queue),
		}
	}
	// Deliveries into the store are keyed, so the intake spool's replays
	// are free; the outbound queue's would send mail twice.
	inbound := opts("inbound")
	inbound.ReplaySafe = true
	var err error
	if s.spool, err = spool.Open(filepath.Join(s.cfg.DataDir, SpoolDir), inbound); err != nil {
		return fmt.Errorf("opening the intake spool: %w", err)
	}
	cfg := s.cfg.SMTP
	s.relay = &smtp.Relay{
		Smarthost: cfg.Smarthost,
		Username:  cfg.SmarthostUsername,
		Password:  cfg.SmarthostPassword,
		TLSMode:   cfg.SmarthostTLS,
		Hostname:  s.cfg.Hostname,
		Logger:    s.log.With("component", "relay"),
		Bounce:    s.spool,
		Directory: s.dir,
	}
	outbound := opts("outbound")
	outbound.OnPermanent = s.relay.OnPermanent
	if s.queue, err = spool.Open(filepath.Join(s.cfg.DataDir, QueueDir), outbound); err != nil {
		return fmt.Errorf("opening the outbound queue: %w", err)
	}
	s.relay.Queue = s.queue
	s.metrics.watchQueue("inbound", s.spool)
	s.metrics.watchQueue("outbound", s.queue)
	return nil
}

func (s *Server) buildProtocols(tlsConfig *tls.Config) {
	cfg := s.cfg
	authLimit := limit.NewAuth()
	s.smtp = smtp.New(smtp.Config{
		Hostname:        cfg.Hostname,
		Directory:       s.dir,
		Usage:           s.store.Usage,
		Spool:           countingEnqueuer{s.spool, s.metrics.accepted.WithLabelValues("inbound")},
		Outbound:        countingEnqueuer{s.queue, s.metrics.accepted.WithLabelValues("outbound")},
		TLS:             tlsConfig,
		MaxMessageBytes: int64(cfg.SMTP.MaxMessageSize),
		MaxRecipients:   cfg.SMTP.MaxRecipients,
		Conns:           limit.NewConns(cfg.SMTP.MaxConnectionsPerIP),
		AuthLimit:       authLimit,
		CommandTimeout:  cfg.SMTP.CommandTimeout.D(),
		Logger:          s.log.With("proto", "smtp"),
	})
	s.imap = &imap.Server{
		Store:              s.store,
		Blobs:              s.blobs,
		Auth:               s.dir,
		TLS:                tlsConfig,
		Hostname:           cfg.Hostname,
		Logger:             s.log.With("proto", "imap"),
		AuthLimit:          authLimit,
		Conns:              limit.NewConns(cfg.IMAP.MaxConnectionsPerIP),
		AllowPlainLoopback: cfg.IMAP.AllowPlainLoopback,
		IdleTimeout:        cfg.IMAP.IdleTimeout.D(),
		CommandTimeout:     cfg.IMAP.CommandTimeout.D(),
		MaxLiteral:         int64(cfg.IMAP.MaxLiteralSize),
	}
	s.pop3 = &pop3.Server{
		Store:              s.store,
		Blobs:              s.blobs,
		Auth:               s.dir,
		TLS:                tlsConfig,
		Hostname:           cfg.Hostname,
		Logger:             s.log.With("proto", "pop3"),
		AuthLimit:          authLimit,
		Conns:              limit.NewConns(cfg.IMAP.MaxConnectionsPerIP),
		AllowPlainLoopback: cfg.POP3.AllowPlainLoopback,
		CommandTimeout:     cfg.IMAP.CommandTimeout.D(),
	}
}

func (s *Server) buildWeb() {
	s.monitor = health.NewMonitor(s.log.With("component", "health"))
	s.monitor.Add("directory", func(ctx context.Context) error {
		_, err := s.dir.Domains(ctx)
		return err
	})
	s.monitor.Add("store", storeProbe(s.store))
	s.monitor.Add("blobs", func(ctx context.Context) error {
		_, err := s.blobs.Stat(ctx, blob.KeyOf(nil))
		if errors.Is(err, blob.ErrNotFound) {
			return nil
		}
		return err
	})
	s.monitor.Add("spool", func(context.Context) error { return writeProbe(filepath.Join(s.cfg.DataDir, SpoolDir)) })
	s.web = &web.Handler{
		Health:   s.monitor,
		Registry: s.metrics.registry,
		Queues: map[string]func() web.QueueStatus{
			"inbound":  queueStatus(s.spool),
			"outbound": queueStatus(s.queue),
		},
	}
	if s.faults != nil {
		s.web.Faults = s.faults
	}
}

func queueStatus(sp *spool.Spool) func() web.QueueStatus {
	return func() web.QueueStatus {
		st, ls := sp.Stats(), sp.State()
		return web.QueueStatus{
			Depth:            st.Depth,
			Bytes:            st.Bytes,
			OldestAgeSeconds: st.OldestAge.Seconds(),
			Paused:           ls.Breaker != spool.BreakerClosed,
			LastError:        ls.LastError,
		}
	}
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// writeProbe checks that dir takes a small synced write, which fails when
// its disk is full or read-only.
func writeProbe(dir string) error {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write([]byte("probe")); err != nil {
		return err
	}
	return f.Sync()
}

func (s *Server) closeStores() {
	for _, sp := range []*spool.Spool{s.spool, s.queue} {
		if sp != nil {
			sp.Close()
		}
	}
	if s.store != nil {
		s.store.Close()
	}
	if s.dir != nil {
		s.dir.Close()
	}
	if s.blobSet != nil {
		s.blobSet.Close()
	}
}
