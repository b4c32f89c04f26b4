package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"sync"
	"time"

	"casella/internal/blob"
	"casella/internal/directory"
	"casella/internal/jmap"
	"casella/internal/limit"
	"casella/internal/wellknown"
)

// httpServer is the HTTP listener's server.
type httpServer = http.Server

// Start listens on every configured address, starts the delivery loops and
// background work, and prints the banner. It returns once everything is
// listening.
func (s *Server) Start(ctx context.Context) error {
	cfg := s.cfg
	type serve func(net.Listener) error
	binds := []struct {
		name, addr string
		serve      serve
	}{
		{"smtp", cfg.SMTP.Listen, s.smtp.ServeMX},
		{"submission", cfg.SMTP.Submission, s.smtp.ServeSubmission},
		{"submissions", cfg.SMTP.Submissions, s.smtp.ServeSubmissions},
		{"imap", cfg.IMAP.Listen, func(l net.Listener) error { return s.imap.Serve(l, false) }},
		{"imaps", cfg.IMAP.TLSListen, func(l net.Listener) error { return s.imap.Serve(l, true) }},
		{"pop3", cfg.POP3.Listen, func(l net.Listener) error { return s.pop3.Serve(l, false) }},
		{"pop3s", cfg.POP3.TLSListen, func(l net.Listener) error { return s.pop3.Serve(l, true) }},
		{"http", cfg.HTTP.Listen, s.serveHTTP},
		{"https", cfg.HTTP.TLSListen, s.serveHTTPS},
		{"managesieve", cfg.ManageSieve.Listen, func(l net.Listener) error { return s.sieve.Serve(l) }},
	}
	s.http = s.newHTTP()
	for _, b := range binds {
		if b.addr == "" || b.name == "managesieve" && s.sieve == nil {
			continue
		}
		l, err := net.Listen("tcp", b.addr)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("%s: listening on %s: %w; is another server using the port? Change [%s] in the configuration", b.name, b.addr, err, section(b.name))
		}
		s.listeners = append(s.listeners, listener{b.name, l})
		counted := s.metrics.count(b.name, l)
		go func() {
			if err := b.serve(counted); err != nil && !s.closing.Load() {
				s.log.Error("listener stopped", "listener", b.name, "err", err)
			}
		}()
	}

	s.started = time.Now().UTC()
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	inbound := s.cells.Deliverer(s.log.With("component", "delivery"))
	inbound.Quota, inbound.Reserved = s.accountQuota, s.quota
	inbound.Filters = s.sieveFilters
	inbound.Sender = s.sender
	s.loop(ctx, "inbound", func(ctx context.Context) error {
		// The spool's backlog counts against quotas again, before the
		// loop delivers (and releases) any of it.
		if n, err := s.quota.ReserveBacklog(ctx, s.spool); err != nil {
			s.log.Warn("quota: the spool's backlog is not counted until delivered", "err", err)
		} else if n > 0 {
			s.log.Info("quota: counted the spool's backlog", "recipients", n)
		}
		return s.spool.Run(ctx, counting(inbound, s.metrics.failures.WithLabelValues("inbound"), s.metrics.refusals.WithLabelValues("delivery", "quota")))
	})
	s.loop(ctx, "outbound", func(ctx context.Context) error {
		return s.queue.Run(ctx, counting(s.relay, s.metrics.failures.WithLabelValues("outbound"), s.metrics.refusals.WithLabelValues("outbound", "deferred")))
	})
	s.loop(ctx, "health", func(ctx context.Context) error { s.monitor.Run(ctx); return nil })
	s.loop(ctx, "blob gc", func(ctx context.Context) error {
		return every(ctx, s.cfg.Blob.GCInterval.D(), s.collectBlobs)
	})
	if s.nodes != nil {
		s.heartbeat(ctx)
		s.loop(ctx, "heartbeat", func(ctx context.Context) error { return every(ctx, heartbeatEvery, s.heartbeat) })
	}
	s.loop(ctx, "delivery keys", func(ctx context.Context) error {
		return every(ctx, pruneKeysEvery, s.pruneDeliveryKeys)
	})
	if recs := submissionRecords(s.dir); recs != nil {
		s.loop(ctx, "submission records", func(ctx context.Context) error {
			return every(ctx, expireSubmissionsEvery, func(ctx context.Context) { s.expireSubmissions(ctx, recs) })
		})
	}
	if s.acme != nil {
		s.loop(ctx, "acme", func(ctx context.Context) error { s.acme.Run(ctx); return nil })
	}
	s.loop(ctx, "tls reports", func(ctx context.Context) error {
		// Once at start as well: a node restarted more often than hourly
		// would otherwise never send the days before today.
		s.tlsReports.SendDue(ctx)
		return every(ctx, time.Hour, s.tlsReports.SendDue)
	})
	for _, c := range s.cells.Cells() {
		s.loop(ctx, "blob scrub", func(ctx context.Context) error {
			// A cell down at start is scrubbed once it opens.
			select {
			case <-c.Ready():
			case <-ctx.Done():
				return nil
			}
			if p := s.cellPart(c.Name); p != nil && p.scrub != nil {
				p.scrub.Run(ctx)
			}
			return nil
		})
	}
	// The demo account is made only now that everything listens: made
	// earlier, a start that then failed left it behind with a password
	// nobody ever saw.
	if err := s.makeDemo(); err != nil {
		return err
	}
	s.banner()
	return nil
}

// loop runs a background task until ctx is done.
func (s *Server) loop(ctx context.Context, name string, f func(context.Context) error) {
	s.loops.Go(func() {
		if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("background task stopped", "task", name, "err", err)
		}
	})
}

// every calls f every d until ctx is done.
func every(ctx context.Context, d time.Duration, f func(context.Context)) error {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		f(ctx)
	}
}

// collectBlobs removes the blobs of each open cell that its store does
// not reference. A cell collects only its own blob store against its own
// mailbox store: the configuration gives no two cells the same bucket.
func (s *Server) collectBlobs(ctx context.Context) {
	for _, c := range s.cells.Cells() {
		b := c.Backends()
		if b == nil {
			continue
		}
		res, err := blob.Collect(ctx, b.Blobs, b.Store.BlobReferenced, s.gcGrace(c.Name))
		if err != nil {
			s.log.Error("blob garbage collection", append(cellLog(c.Name), "err", err)...)
			continue
		}
		s.log.Info("blob garbage collection", append(cellLog(c.Name), "scanned", res.Scanned, "removed", res.Removed, "bytes", res.Freed)...)
	}
}

// gcGrace returns a cell's blob.gc_grace.
func (s *Server) gcGrace(cell string) time.Duration {
	for _, c := range s.cfg.Cells {
		if c.Name == cell {
			return c.Blob.GCGrace.D()
		}
	}
	return s.cfg.Blob.GCGrace.D()
}

// expireSubmissionsEvery is how often finished EmailSubmission records
// past [jmap] submission_retention are destroyed.
const expireSubmissionsEvery = time.Hour

// expireSubmissions destroys the EmailSubmission records finished before
// [jmap] submission_retention, and removes the tombstones older than it;
// nodes sharing a directory each do it, which the directory's write lock
// makes harmless. A push stream learns of it at its account's next
// change.
func (s *Server) expireSubmissions(ctx context.Context, recs directory.Submissions) {
	destroyed, removed, err := recs.ExpireSubmissions(ctx, time.Now().Add(-s.cfg.JMAP.SubmissionRetention.D()))
	if err != nil {
		s.log.Error("expiring submission records", "err", err)
		return
	}
	if destroyed+removed > 0 {
		s.log.Info("expired submission records", "destroyed", destroyed, "tombstones_removed", removed)
	}
}

// pruneKeysEvery is how often the store forgets old delivery keys.
const pruneKeysEvery = time.Hour

// pruneDeliveryKeys makes the store forget the delivery keys older than
// [spool] key_retention. A key is what makes a replayed spool entry store
// nothing twice (package delivery), and an entry's keys are recorded after
// it arrived: none younger than the oldest entry still in the spool goes,
// however long that one has waited.
func (s *Server) pruneDeliveryKeys(ctx context.Context) {
	keep := max(s.cfg.Spool.KeyRetention.D(), s.spool.Stats().OldestAge)
	n, err := s.store.PruneDeliveries(ctx, time.Now().Add(-keep))
	if err != nil {
		s.log.Error("pruning delivery keys", "err", err)
		return
	}
	s.log.Info("pruned delivery keys", "removed", n, "kept", keep)
}

// newHTTP returns the server of the HTTP and HTTPS listeners, which
// serve the same. The MTA-STS host and the client setup documents come
// first: they are routed by Host as well as by path.
func (s *Server) newHTTP() *httpServer {
	mux := http.NewServeMux()
	mux.Handle("/.well-known/jmap", s.jmap)
	mux.Handle(jmap.Prefix+"/", s.jmap)
	mux.Handle("/", s.web)
	if s.cfg.HTTP.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		// One lock wait in 10 sampled: /debug/pprof/mutex shows where
		// sessions queue behind each other.
		runtime.SetMutexProfileFraction(10)
	}
	h := &wellknown.Handler{
		Config:    s.cfg,
		Directory: s.dir,
		Reports:   s.tlsInbox,
		Log:       s.log.With("component", "wellknown"),
		Refused:   func(reason string) { s.metrics.refused("http", reason) },
		Next:      mux,
	}
	var next http.Handler = h
	if s.acme != nil {
		next = s.acme.HTTPHandler(h)
	}
	srv := newHTTPServer(s.cfg.HTTP, next, s.log)
	srv.RegisterOnShutdown(s.jmap.Shutdown)
	s.httpGate = &limit.Gate{Protocol: "http", Total: s.connTotal, Proto: limit.NewConns(s.cfg.HTTP.MaxConnections), Refused: s.metrics.connRefused}
	return srv
}

func (s *Server) serveHTTP(l net.Listener) error {
	return s.http.Serve(&gatedListener{Listener: l, gate: s.httpGate, log: s.log})
}

// serveHTTPS serves HTTP over TLS. The gate admits connections before
// the handshake, so a refused client costs no TLS work.
func (s *Server) serveHTTPS(l net.Listener) error {
	conf := s.tlsConfig.Clone()
	conf.NextProtos = []string{"http/1.1"}
	return s.http.Serve(tls.NewListener(&gatedListener{Listener: l, gate: s.httpGate, log: s.log}, conf))
}

// Addr returns the address a listener is bound to, or nil.
func (s *Server) Addr(name string) net.Addr {
	for _, l := range s.listeners {
		if l.name == name {
			return l.l.Addr()
		}
	}
	return nil
}

// Shutdown stops accepting connections, lets sessions finish until ctx is
// done, stops the delivery loops and closes the stores.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.closeListeners()
	var wg sync.WaitGroup
	for _, sh := range []func(context.Context) error{s.smtp.Shutdown, s.imap.Shutdown, s.pop3.Shutdown, s.shutdownSieve, s.shutdownHTTP} {
		wg.Go(func() {
			if err := sh(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				s.log.Warn("shutdown", "err", err)
			}
		})
	}
	wg.Wait()
	if s.cancel != nil {
		s.cancel()
	}
	s.loops.Wait()
	s.closeStores()
	return nil
}

func (s *Server) shutdownHTTP(ctx context.Context) error {
	if s.http == nil {
		return nil
	}
	return s.http.Shutdown(ctx)
}

func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		l.l.Close()
	}
}

// section names the configuration section of a listener.
func section(listener string) string {
	switch listener {
	case "submission", "submissions":
		return "smtp"
	case "https":
		return "http"
	case "imaps":
		return "imap"
	case "pop3s":
		return "pop3"
	}
	return listener
}

// shutdownSieve stops the ManageSieve server, when there is one.
func (s *Server) shutdownSieve(ctx context.Context) error {
	if s.sieve == nil {
		return nil
	}
	return s.sieve.Shutdown(ctx)
}
