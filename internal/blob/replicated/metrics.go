package replicated

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"casella/internal/blob"
)

// Metrics are the replicated store's and the scrubber's Prometheus
// metrics. A nil *Metrics records nothing.
type Metrics struct {
	reg          prometheus.Registerer
	replicaErrs  *prometheus.CounterVec
	repairs      *prometheus.CounterVec
	hedged       prometheus.Counter
	scrubBlobs   prometheus.Counter
	scrubBytes   prometheus.Counter
	scrubBad     *prometheus.CounterVec
	scrubLost    prometheus.Counter
	scrubPasses  prometheus.Counter
	scrubLastEnd prometheus.Gauge
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reg: reg,
		replicaErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casella_blob_replica_errors_total",
			Help: "Calls to a blob replica that failed or found a missing or corrupt copy, by replica and operation.",
		}, []string{"replica", "op"}),
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casella_blob_repairs_total",
			Help: "Copies rewritten on a blob replica from a good one, by replica and result (ok, failed).",
		}, []string{"replica", "result"}),
		hedged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "casella_blob_hedged_reads_total",
			Help: "Blob reads that asked another replica because the first was slow.",
		}),
		scrubBlobs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "casella_blob_scrub_blobs_total",
			Help: "Blobs whose every replica the scrubber verified.",
		}),
		scrubBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "casella_blob_scrub_bytes_total",
			Help: "Bytes the scrubber read and verified, all replicas counted.",
		}),
		scrubBad: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casella_blob_scrub_bad_copies_total",
			Help: "Bad copies the scrubber found, by replica and kind (missing, corrupt, unreadable).",
		}, []string{"replica", "kind"}),
		scrubLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "casella_blob_scrub_unrecoverable_total",
			Help: "Blobs the scrubber found with no good copy on any replica. Alert on any increase.",
		}),
		scrubPasses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "casella_blob_scrub_passes_total",
			Help: "Complete scrub passes over every blob.",
		}),
		scrubLastEnd: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "casella_blob_scrub_last_pass_end_timestamp_seconds",
			Help: "When the last complete scrub pass ended (Unix time).",
		}),
	}
	reg.MustRegister(m.replicaErrs, m.repairs, m.hedged, m.scrubBlobs, m.scrubBytes, m.scrubBad,
		m.scrubLost, m.scrubPasses, m.scrubLastEnd)
	return m
}

// watchHints exports the number of hints per replica.
func (m *Metrics) watchHints(h *hints) {
	if m == nil {
		return
	}
	h.mu.Lock()
	var names []string
	for name := range h.pending {
		names = append(names, name)
	}
	h.mu.Unlock()
	for _, name := range names {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "casella_blob_hints_pending",
			Help:        "Blobs a replica is known to miss, waiting for replay.",
			ConstLabels: prometheus.Labels{"replica": name},
		}, func() float64 { return float64(h.count(name)) }))
	}
}

func (m *Metrics) replicaError(replica, op string) {
	if m != nil {
		m.replicaErrs.WithLabelValues(replica, op).Inc()
	}
}

func (m *Metrics) repaired(replica string, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.repairs.WithLabelValues(replica, result).Inc()
}

func (m *Metrics) hedgedRead() {
	if m != nil {
		m.hedged.Inc()
	}
}

// badKind names how a copy is bad, for the scrub metrics.
func badKind(err error) string {
	var corrupt *blob.CorruptError
	switch {
	case errors.Is(err, blob.ErrNotFound):
		return "missing"
	case errors.As(err, &corrupt):
		return "corrupt"
	}
	return "unreadable"
}
