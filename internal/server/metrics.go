package server

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"casella/internal/spool"
	"casella/internal/store"
	"casella/internal/store/cache"
)

// metrics are the server's Prometheus metrics. They live in a registry of
// the server's own, not the global one, so tests can run many servers in
// one process.
type metrics struct {
	registry    *prometheus.Registry
	sessions    *prometheus.GaugeVec
	connections *prometheus.CounterVec
	// connRefusals counts connections refused by a cap (limit.Gate);
	// refusals counts what sessions refuse.
	connRefusals *prometheus.CounterVec
	accepted     *prometheus.CounterVec
	delivered    *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	failures     *prometheus.CounterVec
	refusals     *prometheus.CounterVec
	sieveFailed  prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "casella_sessions",
			Help: "Open client connections, by listener.",
		}, []string{"listener"}),
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casella_connections_total",
			Help: "Client connections accepted, by listener.",
		}, []string{"listener"}),
		connRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casella_connections_refused_total",
			Help: "Client connections refused by a connection cap, by protocol and reason (limit.Refused*).",
		}, []string{"protocol", "reason"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casella_messages_accepted_total",
			Help: "Messages accepted (durably spooled, answered 250), by queue.",
		}, []string{"queue"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casella_messages_delivered_total",
			Help: "Spool entries fully delivered, by queue.",
		}, []string{"queue"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "casella_delivery_latency_seconds",
			Help:    "Time from acceptance to delivery, by queue.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10),
		}, []string{"queue"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casella_delivery_failures_total",
			Help: "Failed delivery attempts (store or remote errors), retried later, by queue.",
		}, []string{"queue"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casella_refusals_total",
			Help: "Requests refused (bad recipient, relaying, size, rate, failed or throttled login, quota), by protocol and reason.",
		}, []string{"protocol", "reason"}),
		sieveFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "casella_sieve_failures_total",
			Help: "Sieve scripts that failed at run time; each message was kept in INBOX.",
		}),
	}
	m.registry.MustRegister(m.sessions, m.connections, m.connRefusals, m.accepted, m.delivered, m.latency, m.failures, m.refusals, m.sieveFailed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// refused counts one refusal; every protocol server reports its refusals
// here, each also logging it with its reason.
func (m *metrics) refused(protocol, reason string) {
	m.refusals.WithLabelValues(protocol, reason).Inc()
}

// connRefused counts a connection refused by a cap; it is limit.Gate's
// Refused, and the protocol server logs the refusal with its reason.
func (m *metrics) connRefused(protocol, reason string) {
	m.connRefusals.WithLabelValues(protocol, reason).Inc()
}

// watchQueue exports a spool's depth and oldest entry age.
func (m *metrics) watchQueue(name string, sp *spool.Spool) {
	labels := prometheus.Labels{"queue": name}
	m.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "casella_spool_depth", Help: "Messages waiting in a spool.", ConstLabels: labels,
		}, func() float64 { return float64(sp.Stats().Depth) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "casella_spool_oldest_age_seconds", Help: "Age of the oldest message waiting in a spool.", ConstLabels: labels,
		}, func() float64 { return sp.Stats().OldestAge.Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "casella_spool_paused", Help: "1 while a spool's delivery loop is paused by its circuit breaker.", ConstLabels: labels,
		}, func() float64 {
			if sp.State().Breaker != spool.BreakerClosed {
				return 1
			}
			return 0
		}),
	)
}

// watchCache exports the size and counters of a cell's row cache.
func (m *metrics) watchCache(cell string, c *cache.Store) {
	labels := prometheus.Labels{"cell": cell}
	m.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "casella_store_cache_messages", Help: "Messages whose rows the store's cache holds in memory.", ConstLabels: labels,
		}, func() float64 { return float64(c.Stats().Messages) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "casella_store_cache_mailboxes", Help: "Mailboxes the store's cache holds in memory.", ConstLabels: labels,
		}, func() float64 { return float64(c.Stats().Mailboxes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "casella_store_cache_served_total", Help: "Store reads the cache answered from memory.", ConstLabels: labels,
		}, func() float64 { return float64(c.Stats().Served) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "casella_store_cache_fills_total", Help: "Mailboxes the cache read in whole from the store.", ConstLabels: labels,
		}, func() float64 { return float64(c.Stats().Fills) }),
	)
}

// countingEnqueuer counts what a spool accepted.
type countingEnqueuer struct {
	sp      *spool.Spool
	counter prometheus.Counter
}

func (c countingEnqueuer) Enqueue(ctx context.Context, env spool.Envelope, data []byte) (string, error) {
	id, err := c.sp.Enqueue(ctx, env, data)
	if err == nil {
		c.counter.Inc()
	}
	return id, err
}

func (c countingEnqueuer) EnqueueKeyed(ctx context.Context, key string, env spool.Envelope, data []byte) (string, bool, error) {
	id, dup, err := c.sp.EnqueueKeyed(ctx, key, env, data)
	if err == nil && !dup {
		c.counter.Inc()
	}
	return id, dup, err
}

func (c countingEnqueuer) KeyUsed(ctx context.Context, key string, received time.Time) (string, bool, error) {
	return c.sp.KeyUsed(ctx, key, received)
}

// counting wraps a delivery handler to count its failures, keeping its
// ability to take batches or to tell replies.
func counting(h spool.Handler, counter, deferred prometheus.Counter) spool.Handler {
	c := countingHandler{h, counter, deferred}
	if b, ok := h.(spool.BatchHandler); ok {
		return countingBatchHandler{c, b}
	}
	if r, ok := h.(spool.ReplyHandler); ok {
		return countingReplyHandler{c, r}
	}
	return c
}

// countingHandler counts a delivery handler's failures, and apart from
// them its deferrals (a mailbox over quota), which are no failure of ours.
type countingHandler struct {
	h        spool.Handler
	counter  prometheus.Counter
	deferred prometheus.Counter
}

func (c countingHandler) Handle(ctx context.Context, e *spool.Entry, data []byte, rcpt int) error {
	return c.count(c.h.Handle(ctx, e, data, rcpt))
}

func (c countingHandler) count(err error) error {
	switch {
	case errors.Is(err, spool.ErrDeferred):
		c.deferred.Inc()
	case err != nil:
		c.counter.Inc()
	}
	return err
}

// countingBatchHandler is a countingHandler for a spool.BatchHandler.
type countingBatchHandler struct {
	countingHandler
	b spool.BatchHandler
}

func (c countingBatchHandler) HandleBatch(ctx context.Context, batch []spool.Task) error {
	return c.count(c.b.HandleBatch(ctx, batch))
}

// countingReplyHandler is a countingHandler for a spool.ReplyHandler.
type countingReplyHandler struct {
	countingHandler
	r spool.ReplyHandler
}

func (c countingReplyHandler) HandleReply(ctx context.Context, e *spool.Entry, data []byte, rcpt int) (string, error) {
	reply, err := c.r.HandleReply(ctx, e, data, rcpt)
	return reply, c.count(err)
}

// countingListener tracks a listener's open connections.
type countingListener struct {
	net.Listener
	open  prometheus.Gauge
	total prometheus.Counter
}

func (m *metrics) count(name string, l net.Listener) net.Listener {
	return &countingListener{Listener: l, open: m.sessions.WithLabelValues(name), total: m.connections.WithLabelValues(name)}
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Inc()
	l.total.Inc()
	return &countedConn{Conn: c, open: l.open}, nil
}

type countedConn struct {
	net.Conn
	open prometheus.Gauge
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(c.open.Dec)
	return c.Conn.Close()
}

// storeProbe checks that the mailbox store answers: a usage query for an
// account that does not exist touches the database without changing it.
func storeProbe(st store.Store) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := st.Usage(ctx, 0)
		if err == nil || isNotFound(err) {
			return nil
		}
		return err
	}
}

// observeDelivered feeds the delivery metrics; it is the spool's
// OnDelivered callback.
func (m *metrics) observeDelivered(queue string) func(*spool.Entry, time.Duration) {
	delivered, latency := m.delivered.WithLabelValues(queue), m.latency.WithLabelValues(queue)
	return func(_ *spool.Entry, d time.Duration) {
		delivered.Inc()
		latency.Observe(d.Seconds())
	}
}

// cellsCollector exports each cell's state: whether its stores answer,
// the recipients waiting for it in the intake spool, and whether the
// deliveries to it are paused. Alert on casella_cell_up == 0: that cell's
// accounts are without service.
type cellsCollector struct {
	s                   *Server
	up, pending, paused *prometheus.Desc
}

func newCellsCollector(s *Server) *cellsCollector {
	return &cellsCollector{
		s:       s,
		up:      prometheus.NewDesc("casella_cell_up", "1 while a cell's mailbox store and blob store answer this node.", []string{"cell"}, nil),
		pending: prometheus.NewDesc("casella_cell_spool_pending", "Recipients of a cell's accounts waiting in this node's intake spool.", []string{"cell"}, nil),
		paused:  prometheus.NewDesc("casella_cell_deliveries_paused", "1 while this node's deliveries to a cell are paused by its circuit breaker.", []string{"cell"}, nil),
	}
}

func (c *cellsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.pending
	ch <- c.paused
}

func (c *cellsCollector) Collect(ch chan<- prometheus.Metric) {
	up := map[string]bool{}
	for _, st := range c.s.monitor.States() {
		up[st.Name] = st.Up
	}
	loop := c.s.spool.State().Cells
	for _, cl := range c.s.cells.Cells() {
		st, blobs := probeNames(cl.Name)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, boolValue(up[st] && up[blobs] && cl.Err() == nil), cl.Name)
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(loop[cl.Name].Pending), cl.Name)
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, boolValue(loop[cl.Name].Breaker != spool.BreakerClosed), cl.Name)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
