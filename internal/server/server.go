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
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"casella/internal/blob/replicated"
	"casella/internal/cell"
	"casella/internal/config"
	"casella/internal/delivery"
	"casella/internal/directory"
	"casella/internal/dkim"
	"casella/internal/faults"
	"casella/internal/health"
	"casella/internal/imap"
	"casella/internal/jmap"
	"casella/internal/limit"
	"casella/internal/mailauth"
	"casella/internal/managesieve"
	"casella/internal/mtasts"
	"casella/internal/nodes"
	"casella/internal/pop3"
	"casella/internal/quota"
	"casella/internal/resolver"
	"casella/internal/sieve"
	"casella/internal/smtp"
	"casella/internal/spool"
	"casella/internal/srs"
	"casella/internal/store"
	"casella/internal/tlsconf"
	"casella/internal/tlsrpt"
	"casella/internal/web"
)

// Paths inside the data directory.
const (
	DirectoryFile = "directory.db"
	StoreFile     = "mail.db"
	BlobDir       = "blobs"
	SpoolDir      = "spool"
	QueueDir      = "queue"
	DKIMDir       = "dkim"
	TLSReportDir  = "tlsrpt"
	SRSSecretFile = "srs-secret"
	// ReceivedReportDir keeps the TLS reports other servers send about
	// the local domains.
	ReceivedReportDir = "tlsrpt-received"
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

	dir         directory.Directory
	nodes       *nodes.Register // the cluster's node register; nil in embedded mode
	cells       *cell.Router
	store       store.Store // cells, as one store that routes each account to its cell
	partsMu     sync.Mutex
	parts       map[string]*cellParts          // by cell name, once open
	blobMetrics map[string]*replicated.Metrics // by cell name
	spool       *spool.Spool
	queue       *spool.Spool

	smtp  *smtp.Server
	imap  *imap.Server
	pop3  *pop3.Server
	jmap  *jmap.Server
	sieve *managesieve.Server // nil when the directory keeps no scripts
	// sieveFilters runs the accounts' scripts, for the delivery and for
	// SMTP's reject at the end of DATA; nil when the directory keeps none.
	sieveFilters *delivery.Filters
	relay        *smtp.Relay
	quota        *quota.Tracker // messages accepted and not yet delivered, per account
	// resolver is what outbound delivery and sender checks ask DNS with.
	resolver *resolver.Resolver
	// outbound is where submitted mail and reports enter the queue.
	outbound dkim.SigningQueue
	// sender sends what Sieve scripts ask for; srs reverses bounces to it.
	sender     *delivery.Sender
	srs        *srs.Rewriter
	tlsReports *tlsrpt.Recorder
	tlsInbox   *tlsrpt.Inbox // the TLS reports other servers send us
	web        *web.Handler
	http       *httpServer // of both HTTP listeners
	httpGate   *limit.Gate // their connection cap
	tlsConfig  *tls.Config
	acme       *tlsconf.ACME // nil unless [acme] is enabled

	connTotal *limit.Conns // the cap on every protocol's connections together

	listeners []listener
	demo      [2]string // address and password of a demo account made now

	started time.Time
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
	s := &Server{cfg: cfg, log: opts.Logger, out: opts.Out, metrics: newMetrics(), parts: map[string]*cellParts{}, blobMetrics: map[string]*replicated.Metrics{}}
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

	ctx := context.Background()
	var err error
	if s.dir, err = OpenDirectory(ctx, cfg); err != nil {
		return nil, err
	}
	s.openNodes(ctx)
	if opts.AllowFaults {
		s.faults = faults.New(s.log.With("component", "faults"))
		s.log.Warn("fault injection is allowed on this server; never run it in production")
	}
	s.cells = cell.New(s.dir, specs(cfg, s.openCell), cell.Options{Logger: s.log.With("component", "cells")})
	s.store = s.cells
	if err := s.cells.Open(ctx); err != nil {
		return nil, err
	}
	if cfg.Cluster() {
		s.checkCells(ctx)
	}
	if !cfg.Cluster() {
		// Embedded mode has nothing to fall back on: a data directory
		// whose store cannot be opened is an error to fix now.
		if err := s.cells.Cell("").Err(); err != nil {
			return nil, err
		}
	}

	tlsConfig, err := tlsconf.Load(cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.DataDir, cfg.Hostname)
	if err != nil {
		return nil, fmt.Errorf("TLS: %w", err)
	}

	if err := s.openSpools(); err != nil {
		return nil, err
	}
	s.tlsConfig = tlsConfig
	if cfg.ACME.Enabled {
		if err := s.openACME(ctx); err != nil {
			return nil, err
		}
	}
	if scripts, ok := s.dir.(directory.SieveScripts); ok {
		if s.sieveFilters, err = s.filters(scripts); err != nil {
			return nil, err
		}
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
			KeyRetention:    sc.KeyRetention.D(),
			Logger:          s.log.With("queue", queue),
			OnDelivered:     s.metrics.observeDelivered(queue),
			// The deliveryStatus of JMAP submissions follows both
			// queues; the JMAP server is built after them, before
			// their loops run.
			OnStatus: func(e *spool.Entry, rcpt int, reply string, err error) {
				s.jmap.DeliveryStatus(e, rcpt, reply, err)
			},
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
	s.resolver = &resolver.Resolver{Servers: cfg.Resolvers}
	s.relay = &smtp.Relay{
		Smarthost: cfg.Smarthost,
		Direct: &smtp.Direct{
			Resolver:  s.resolver,
			STS:       &mtasts.Fetcher{Resolver: s.resolver},
			Port:      strconv.Itoa(cfg.DeliveryPort),
			Hostname:  s.cfg.Hostname,
			PerDomain: cfg.DestinationConcurrency,
			Rate:      limit.NewRate(cfg.DestinationMessagesPerMinute, time.Minute),
			Refused:   func(reason string) { s.metrics.refused("outbound", reason) },
			Logger:    s.log.With("component", "direct"),
		},
		Username:  cfg.SmarthostUsername,
		Password:  cfg.SmarthostPassword,
		TLSMode:   cfg.SmarthostTLS,
		Hostname:  s.cfg.Hostname,
		Logger:    s.log.With("component", "relay"),
		Bounce:    s.spool,
		Directory: s.dir,
	}
	outbound := opts("outbound")
	outbound.RetryMin, outbound.RetryMax = cfg.RetryMin.D(), cfg.RetryMax.D()
	outbound.Lifetime, outbound.WarnAfter = cfg.QueueLifetime.D(), cfg.DelayWarning.D()
	outbound.OnPermanent, outbound.OnDelay = s.relay.OnPermanent, s.relay.OnDelay
	s.relay.Lifetime = cfg.QueueLifetime.D()
	if s.queue, err = spool.Open(filepath.Join(s.cfg.DataDir, QueueDir), outbound); err != nil {
		return fmt.Errorf("opening the outbound queue: %w", err)
	}
	s.relay.Queue = s.queue
	// Mail from local domains is signed as it enters the queue.
	s.outbound = dkim.SigningQueue{
		Next: countingEnqueuer{s.queue, s.metrics.accepted.WithLabelValues("outbound")},
		Keys: dkim.Open(filepath.Join(s.cfg.DataDir, DKIMDir)),
		Log:  s.log.With("component", "dkim"),
	}
	secrets, err := srs.LoadSecrets(filepath.Join(s.cfg.DataDir, SRSSecretFile))
	if err != nil {
		return err
	}
	s.srs = &srs.Rewriter{Secrets: secrets}
	s.relay.SRS, s.relay.Forward = s.srs, s.outbound
	s.tlsReports = &tlsrpt.Recorder{
		Dir:       filepath.Join(s.cfg.DataDir, TLSReportDir),
		Submitter: s.cfg.Hostname,
		Resolver:  s.resolver,
		Mail:      s.outbound,
		Logger:    s.log.With("component", "tlsrpt"),
	}
	s.relay.Direct.Reports = s.tlsReports
	s.metrics.watchQueue("inbound", s.spool)
	s.metrics.watchQueue("outbound", s.queue)
	return nil
}

func (s *Server) buildProtocols(tlsConfig *tls.Config) {
	cfg := s.cfg
	s.quota = quota.NewTracker(cfg.Quota.Grace)
	authLimit := limit.NewAuth(limit.AuthOptions{
		LockAfter: cfg.Auth.LockAfter,
		LockFor:   cfg.Auth.LockFor.D(),
		Locks:     s.dir,
		Logger:    s.log.With("component", "auth"),
		Refused:   s.metrics.refused,
	})
	total := limit.NewConns(cfg.MaxConnections)
	s.connTotal = total
	gate := func(protocol string, max, perAddress, perUserAddr int) *limit.Gate {
		g := &limit.Gate{Protocol: protocol, Total: total, Proto: limit.NewConns(max), PerAddress: limit.NewConns(perAddress),
			Refused: s.metrics.connRefused}
		if perUserAddr > 0 {
			g.PerUserAddr = limit.NewConns(perUserAddr)
		}
		return g
	}
	// One sending budget per account, whether it sends over SMTP or JMAP.
	sendRate := limit.NewRate(cfg.SMTP.RecipientsPerHour, time.Hour)
	s.sender = &delivery.Sender{
		Directory: s.dir,
		Intake:    countingEnqueuer{s.spool, s.metrics.accepted.WithLabelValues("inbound")},
		Outbound:  s.outbound,
		Forwarder: &delivery.Forwarder{SRS: s.srs, Keys: s.outbound.Keys, Resolver: s.resolver, Hostname: cfg.Hostname,
			Logger: s.log.With("component", "forward")},
		SendRate: sendRate,
		Hostname: cfg.Hostname,
		Refused:  func(reason string) { s.metrics.refused("sieve", reason) },
	}
	var sieveReject func(context.Context, spool.Recipient, string, []byte, time.Time) (string, bool)
	if s.sieveFilters != nil {
		sieveReject = s.sieveFilters.RejectsAtIntake
	}
	s.smtp = smtp.New(smtp.Config{
		Hostname:        cfg.Hostname,
		SieveReject:     sieveReject,
		SRS:             s.srs,
		Directory:       s.dir,
		Usage:           s.store.Usage,
		Quota:           s.quota,
		Spool:           countingEnqueuer{s.spool, s.metrics.accepted.WithLabelValues("inbound")},
		Outbound:        s.outbound,
		Checks:          s.senderChecks(),
		Blocklists:      s.blocklists(),
		MessageRate:     limit.NewRate(cfg.SMTP.MessagesPerMinute, time.Minute),
		SendRate:        sendRate,
		TLS:             tlsConfig,
		MaxMessageBytes: int64(cfg.SMTP.MaxMessageSize),
		MaxRecipients:   cfg.SMTP.MaxRecipients,
		CheckHeaderFrom: cfg.SMTP.CheckHeaderFrom,
		Conns:           gate("smtp", cfg.SMTP.MaxConnections, cfg.SMTP.MaxConnectionsPerIP, 0),
		AuthLimit:       authLimit,
		CommandTimeout:  cfg.SMTP.CommandTimeout.D(),
		Refused:         func(reason string) { s.metrics.refused("smtp", reason) },
		Logger:          s.log.With("proto", "smtp"),
	})
	s.imap = &imap.Server{
		Store:              s.store,
		BlobsOf:            s.cells.BlobsOf,
		Auth:               s.dir,
		TLS:                tlsConfig,
		Hostname:           cfg.Hostname,
		Logger:             s.log.With("proto", "imap"),
		AuthLimit:          authLimit,
		Conns:              gate("imap", cfg.IMAP.MaxConnections, cfg.IMAP.MaxConnectionsPerIP, cfg.IMAP.MaxConnectionsPerUserIP),
		AllowPlainLoopback: cfg.IMAP.AllowPlainLoopback,
		IdleTimeout:        cfg.IMAP.IdleTimeout.D(),
		LoginTimeout:       cfg.IMAP.LoginTimeout.D(),
		CommandTimeout:     cfg.IMAP.CommandTimeout.D(),
		MaxLiteral:         int64(cfg.IMAP.MaxLiteralSize),
		MaxMailboxes:       cfg.IMAP.MaxMailboxes,
		MaxMailboxDepth:    cfg.IMAP.MaxMailboxDepth,
		MaxMailboxName:     cfg.IMAP.MaxMailboxNameLength,
	}
	s.jmap = &jmap.Server{
		Store:     s.store,
		BlobsOf:   s.cells.BlobsOf,
		Auth:      s.dir,
		AuthLimit: authLimit,
		Logger:    s.log.With("proto", "jmap"),
		// An upload is one HTTP request body.
		MaxSizeUpload: int64(cfg.HTTP.MaxRequestBody),
		Refused:       func(reason string) { s.metrics.refused("jmap", reason) },
		Tokens:        tokenAuth(s.dir),
		// EmailSubmission queues as SMTP submission does.
		Submission: &jmap.Submission{
			Directory:      s.dir,
			Spool:          countingEnqueuer{s.spool, s.metrics.accepted.WithLabelValues("inbound")},
			Outbound:       s.outbound,
			SendRate:       sendRate,
			Records:        submissionRecords(s.dir),
			SpoolHold:      s.spool,
			OutboundHold:   s.queue,
			MaxDelayedSend: cfg.JMAP.MaxDelayedSend.D(),
			UndoWindow:     cfg.JMAP.UndoWindow.D(),
			Node:           s.clusterNode,
		},
	}
	s.pop3 = &pop3.Server{
		Store:              s.store,
		BlobsOf:            s.cells.BlobsOf,
		Auth:               s.dir,
		TLS:                tlsConfig,
		Hostname:           cfg.Hostname,
		Logger:             s.log.With("proto", "pop3"),
		AuthLimit:          authLimit,
		Conns:              gate("pop3", cfg.POP3.MaxConnections, cfg.POP3.MaxConnectionsPerIP, 0), // one session per account: the maildrop lock
		AllowPlainLoopback: cfg.POP3.AllowPlainLoopback,
		CommandTimeout:     cfg.IMAP.CommandTimeout.D(),
	}
	// Both directories of the tree keep Sieve scripts; another
	// implementation would leave ManageSieve off.
	if scripts, ok := s.dir.(directory.SieveScripts); ok {
		s.jmap.Sieve = scripts
		s.jmap.SieveMaxScriptSize, s.jmap.SieveMaxScripts = int64(cfg.ManageSieve.MaxScriptSize), cfg.ManageSieve.MaxScripts
		s.sieve = &managesieve.Server{
			Auth:               s.dir,
			Scripts:            scripts,
			TLS:                tlsConfig,
			Hostname:           cfg.Hostname,
			Logger:             s.log.With("proto", "managesieve"),
			AuthLimit:          authLimit,
			Conns:              gate("managesieve", cfg.ManageSieve.MaxConnections, cfg.ManageSieve.MaxConnectionsPerIP, 0),
			AllowPlainLoopback: cfg.ManageSieve.AllowPlainLoopback,
			MaxScriptSize:      int64(cfg.ManageSieve.MaxScriptSize),
			MaxScripts:         cfg.ManageSieve.MaxScripts,
			MaxRedirects:       sieve.DefaultLimits.Redirects,
			CommandTimeout:     cfg.IMAP.CommandTimeout.D(),
		}
	}
}

func (s *Server) buildWeb() {
	s.monitor = health.NewMonitor(s.log.With("component", "health"))
	s.monitor.Add("directory", func(ctx context.Context) error {
		_, err := s.dir.Domains(ctx)
		return err
	})
	for _, c := range s.cells.Cells() {
		st, blobs := probeNames(c.Name)
		s.monitor.Add(st, cellStoreProbe(c))
		s.monitor.Add(blobs, cellBlobProbe(c))
	}
	s.monitor.Add("spool", func(context.Context) error { return writeProbe(filepath.Join(s.cfg.DataDir, SpoolDir)) })
	s.tlsInbox = &tlsrpt.Inbox{Dir: filepath.Join(s.cfg.DataDir, ReceivedReportDir)}
	s.web = &web.Handler{
		Health:   s.monitor,
		Registry: s.metrics.registry,
		Queues: map[string]func() web.QueueStatus{
			"inbound":  queueStatus(s.spool),
			"outbound": queueStatus(s.queue),
		},
		TLSReports: s.receivedTLSReports,
	}
	s.web.Cluster = s.clusterStatus
	if s.acme != nil {
		s.web.Certificates = s.certificates
	}
	s.metrics.registry.MustRegister(newCellsCollector(s))
	if s.faults != nil {
		s.web.Faults = s.faults
	}
}

// receivedTLSReports is the last day's summary of the TLS reports
// received, for the status page; a report it cannot read is logged.
func (s *Server) receivedTLSReports() []tlsrpt.Received {
	sum, err := s.tlsInbox.Summary()
	if err != nil {
		s.log.Warn("tls reports: some could not be read for the status page", "err", err)
	}
	return sum
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

// accountQuota returns an account's quota for the delivery loop.
func (s *Server) accountQuota(ctx context.Context, id store.Account) (int64, error) {
	a, err := s.dir.AccountByID(ctx, id)
	if err != nil {
		return 0, err
	}
	return a.Quota, nil
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

// senderChecks returns the SPF, DKIM, DMARC and ARC checker of the MX
// listener, nil when the configuration turns the checks off.
func (s *Server) senderChecks() *mailauth.Checker {
	if !s.cfg.SMTP.CheckSenders {
		return nil
	}
	return &mailauth.Checker{Resolver: s.resolver, Hostname: s.cfg.Hostname, TrustedSealers: s.cfg.SMTP.ARCTrustedSealers}
}

// blocklists returns the DNS blocklists of the MX listener, nil when none
// is configured.
func (s *Server) blocklists() *mailauth.DNSBL {
	if len(s.cfg.SMTP.Blocklists) == 0 {
		return nil
	}
	return &mailauth.DNSBL{Resolver: s.resolver, Zones: s.cfg.SMTP.Blocklists}
}

func (s *Server) closeStores() {
	if s.relay != nil && s.relay.Direct != nil {
		s.relay.Direct.Close()
	}
	for _, sp := range []*spool.Spool{s.spool, s.queue} {
		if sp != nil {
			sp.Close()
		}
	}
	if s.cells != nil {
		s.cells.Close()
	}
	if s.nodes != nil {
		s.nodes.Close()
	}
	if s.dir != nil {
		s.dir.Close()
	}
}

// tokenAuth returns the directory's app passwords for JMAP's bearer
// tokens, or nil when it keeps none.
func tokenAuth(d directory.Directory) jmap.TokenAuthenticator {
	if t, ok := d.(directory.Tokens); ok {
		return t
	}
	return nil
}

// submissionRecords returns where the directory keeps JMAP's
// EmailSubmission records, or nil when it keeps none.
func submissionRecords(d directory.Directory) directory.Submissions {
	if r, ok := d.(directory.Submissions); ok {
		return r
	}
	return nil
}

// clusterNode names this node in a cluster, "" in embedded mode: there
// the one node's name may change with its port between runs.
func (s *Server) clusterNode() string {
	if !s.cfg.Cluster() {
		return ""
	}
	return s.nodeName()
}
