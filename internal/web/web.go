// Package web serves Casella's HTTP listener: health and readiness for load
// balancers, Prometheus metrics, and the JSON status that the status page
// and the webmail banner show to users (DESIGN.md invariant 8).
//
// Implementation notes:
//   - /healthz answers 200 while the process serves HTTP at all; /readyz
//     answers 200 while intake can accept mail, that is while the directory
//     and the spool work. A mailbox store outage makes the server degraded,
//     not unready: mail is still accepted into the spool (invariant 2).
//   - The fault-injection endpoint is mounted only when the server was
//     started with fault injection allowed; never by default.
package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"casella/internal/health"
	"casella/internal/tlsrpt"
	"casella/internal/web/webmail"
)

// Components whose failure stops intake.
var intakeComponents = []string{"directory", "spool"}

// QueueStatus describes a spool or queue for the status endpoint.
type QueueStatus struct {
	Depth            int     `json:"depth"`
	Bytes            int64   `json:"bytes"`
	OldestAgeSeconds float64 `json:"oldestAgeSeconds"`
	Paused           bool    `json:"paused"` // the delivery loop's circuit breaker is open
	LastError        string  `json:"lastError,omitempty"`
}

// Status is the document served at /api/status.
type Status struct {
	Time       time.Time              `json:"time"`
	Ready      bool                   `json:"ready"`    // intake accepts mail
	Degraded   bool                   `json:"degraded"` // some component is down
	Message    string                 `json:"message"`  // for people: what is happening
	Components []health.State         `json:"components"`
	Queues     map[string]QueueStatus `json:"queues"`
	Cluster    *Cluster               `json:"cluster,omitempty"` // only in /api/status and the page
	// TLSReports sums up the TLS reports (RFC 8460) other servers sent
	// about their sessions to ours in the last day; only in /api/status
	// and the page.
	TLSReports []tlsrpt.Received `json:"tlsReports,omitempty"`
	// Warnings are for the operator: things to look at that leave mail
	// flowing, so they do not make the server degraded.
	Warnings []string `json:"warnings,omitempty"`
	// Certificates are those of [acme], only in /api/status.
	Certificates []Certificate `json:"certificates,omitempty"`
}

// Certificate is the ACME certificate of one name.
type Certificate struct {
	Name     string    `json:"name"`
	NotAfter time.Time `json:"notAfter,omitzero"` // zero while the name has none
	Error    string    `json:"error,omitempty"`   // the last attempt's failure
	Retry    time.Time `json:"retry,omitzero"`    // when a failed name is tried again
}

// Cluster describes the nodes and the cells, as one node sees them.
type Cluster struct {
	Nodes []Node       `json:"nodes"`
	Cells []CellStatus `json:"cells"`
}

// Node is a node seen recently.
type Node struct {
	Name    string    `json:"name"`
	Self    bool      `json:"self,omitempty"` // the node answering
	Started time.Time `json:"started"`
	Seen    time.Time `json:"seen"` // its last heartbeat
	// Backlog is the recipients waiting in its intake spool, per cell.
	Backlog map[string]int `json:"backlog"`
}

// CellStatus is one cell's health and load.
type CellStatus struct {
	Name     string `json:"name"`
	Up       bool   `json:"up"` // its mailbox store and blob store answer this node
	Error    string `json:"error,omitempty"`
	Accounts int    `json:"accounts"` // -1 while the directory cannot say
	// Backlog is the recipients of its accounts waiting in the intake
	// spools of the nodes listed.
	Backlog int  `json:"backlog"`
	Paused  bool `json:"paused"` // this node's deliveries to it are paused by its breaker
}

// Handler serves the HTTP listener's endpoints.
type Handler struct {
	Health   *health.Monitor
	Queues   map[string]func() QueueStatus // "inbound", "outbound"
	Registry *prometheus.Registry
	Faults   http.Handler // nil unless fault injection is allowed
	// Cluster, when set, describes the nodes and cells in /api/status
	// and the page; it may ask the directory, so /readyz goes without.
	Cluster func(ctx context.Context) *Cluster
	// TLSReports, when set, gives the last day's received TLS reports
	// for /api/status and the page.
	TLSReports func() []tlsrpt.Received
	// Certificates, when set, lists the ACME certificates in /api/status.
	Certificates func() []Certificate

	once sync.Once
	mux  *http.ServeMux
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(func() { h.mux = h.routes() })
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", h.serveReady)
	mux.HandleFunc("GET /api/status", h.serveStatus)
	mux.HandleFunc("GET /status", h.servePage)
	mux.Handle("GET /", webmail.Handler())
	if h.Registry != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(h.Registry, promhttp.HandlerOpts{Registry: h.Registry}))
	}
	// The fault endpoint is registered per method: one pattern for every
	// method would conflict with the webmail's "GET /" under net/http's
	// precedence rules. Without fault injection it answers 404, which
	// the CLI turns into "start it with --allow-faults".
	faults := h.Faults
	if faults == nil {
		faults = http.NotFoundHandler()
	}
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		mux.Handle(m+" /admin/faults", faults)
	}
	return mux
}

// Status computes the current status.
func (h *Handler) Status() Status {
	s := Status{Time: time.Now().UTC(), Ready: true, Components: h.Health.States(), Queues: map[string]QueueStatus{}}
	down := map[string]bool{}
	for _, c := range s.Components {
		if !c.Up {
			down[c.Name] = true
			s.Degraded = true
		}
	}
	for _, name := range intakeComponents {
		if down[name] {
			s.Ready = false
		}
	}
	for name, f := range h.Queues {
		s.Queues[name] = f()
	}
	if outboundLate(s.Queues["outbound"]) {
		s.Degraded = true
	}
	s.Message = message(s, down)
	return s
}

// message tells users, in plain words, what the state means for their mail.
func message(s Status, down map[string]bool) string {
	waiting := s.Queues["inbound"].Depth
	switch {
	case !s.Ready:
		return "Incoming mail is temporarily deferred: sending servers will retry, and no mail is lost."
	case down["store"] || down["blobs"]:
		return fmt.Sprintf("Mailbox storage is unavailable. Incoming mail is being accepted and kept safe (%d messages waiting); it will appear in mailboxes as soon as storage is back. Reading mail may fail until then.", waiting)
	case len(downCells(down)) > 0:
		return fmt.Sprintf("Mailbox storage is unavailable for the accounts of cell %s; everyone else is not affected. Their incoming mail is being accepted and kept safe (%d messages waiting); it will appear in mailboxes as soon as storage is back. Reading their mail may fail until then.",
			strings.Join(downCells(down), ", "), waiting)
	case outboundLate(s.Queues["outbound"]):
		q := s.Queues["outbound"]
		return fmt.Sprintf("Outgoing mail is delayed: %d messages wait for other providers' servers, the oldest for %s. They are retried, and their senders are told if one cannot be delivered.",
			q.Depth, time.Duration(q.OldestAgeSeconds*float64(time.Second)).Round(time.Minute))
	case s.Degraded:
		return "Some services are degraded; mail is being accepted and kept safe."
	default:
		return "All systems normal."
	}
}

// outboundLateAfter is the age of the oldest outbound message past which
// the outbound queue counts as degraded: mail that has not left within an
// hour is retried on a schedule of hours (config smtp.retry_max).
const outboundLateAfter = time.Hour

// outboundLate reports whether the outbound queue is paused or holds mail
// that should have left by now.
func outboundLate(q QueueStatus) bool {
	return q.Paused || q.Depth > 0 && q.OldestAgeSeconds > outboundLateAfter.Seconds()
}

// downCells returns the cells whose store or blobs are down, sorted:
// their health components are "cell NAME store" and "cell NAME blobs".
func downCells(down map[string]bool) []string {
	var cells []string
	for name := range down {
		rest, ok := strings.CutPrefix(name, "cell ")
		if !ok {
			continue
		}
		i := strings.LastIndexByte(rest, ' ')
		if i < 0 {
			continue
		}
		if cell := rest[:i]; !slices.Contains(cells, cell) {
			cells = append(cells, rest[:i])
		}
	}
	sort.Strings(cells)
	return cells
}

// fullStatus is Status with the cluster's description and the TLS
// reports received.
func (h *Handler) fullStatus(ctx context.Context) Status {
	s := h.Status()
	if h.Cluster != nil {
		s.Cluster = h.Cluster(ctx)
	}
	if h.TLSReports != nil {
		s.TLSReports = h.TLSReports()
		s.Warnings = append(s.Warnings, tlsWarnings(s.TLSReports)...)
	}
	if h.Certificates != nil {
		s.Certificates = h.Certificates()
	}
	return s
}

// tlsWarnings says which senders could not reach us over TLS as our
// policy asks. A sender's failures are a warning, not degradation: under
// MTA-STS testing it delivered anyway, and under enforce the mail waits
// in its queue while the certificate or the policy is fixed.
func tlsWarnings(reports []tlsrpt.Received) []string {
	var out []string
	for _, r := range reports {
		if r.Failure == 0 {
			continue
		}
		types := make([]string, 0, len(r.Failures))
		for t, n := range r.Failures {
			types = append(types, fmt.Sprintf("%s %d", t, n))
		}
		sort.Strings(types)
		out = append(out, fmt.Sprintf("TLS reports: %s counted %d failed and %d successful TLS sessions to the mail servers of %s in the last day (%s); check the certificate and the MTA-STS policy (casella dns check %s).",
			r.Organization, r.Failure, r.Success, r.Domain, strings.Join(types, ", "), r.Domain))
	}
	return out
}

func (h *Handler) serveReady(w http.ResponseWriter, r *http.Request) {
	s := h.Status()
	code := http.StatusOK
	if !s.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, s)
}

func (h *Handler) serveStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.fullStatus(r.Context()))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
