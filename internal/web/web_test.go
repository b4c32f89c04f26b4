package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"casella/internal/health"
	"casella/internal/tlsrpt"
)

func TestEndpoints(t *testing.T) {
	mon := health.NewMonitor(slog.New(slog.NewTextHandler(io.Discard, nil)))
	var storeErr, spoolErr error
	mon.Add("store", func(context.Context) error { return storeErr })
	mon.Add("spool", func(context.Context) error { return spoolErr })
	mon.Add("directory", func(context.Context) error { return nil })
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "casella_test_total", Help: "test"}))
	h := &Handler{Health: mon, Registry: reg, Queues: map[string]func() QueueStatus{
		"inbound": func() QueueStatus { return QueueStatus{Depth: 7} },
	}}
	srv := httptest.NewServer(h)
	defer srv.Close()

	get := func(path string) (int, string) { return fetch(t, srv.URL+path) }

	mon.ProbeAll(context.Background())
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz = %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("readyz = %d", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "casella_test_total") {
		t.Fatalf("metrics = %d %q", code, body)
	}
	if code, _ := get("/admin/faults"); code != 404 {
		t.Fatalf("fault endpoint reachable without being allowed: %d", code)
	}

	// A store outage degrades but keeps intake ready.
	storeErr = errors.New("store down")
	mon.ProbeAll(context.Background())
	code, body := get("/api/status")
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 {
		t.Fatalf("status = %d %q %v", code, body, err)
	}
	if !st.Ready || !st.Degraded || st.Queues["inbound"].Depth != 7 || !strings.Contains(st.Message, "7 messages waiting") {
		t.Fatalf("status during store outage = %+v", st)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("readyz during store outage = %d, want 200", code)
	}
	if code, body := get("/status"); code != 200 || !strings.Contains(body, "Mailbox storage is unavailable") {
		t.Fatalf("status page = %d %q", code, body)
	}

	// A spool failure stops intake.
	spoolErr = errors.New("disk full")
	mon.ProbeAll(context.Background())
	if code, _ := get("/readyz"); code != 503 {
		t.Fatalf("readyz with spool down = %d, want 503", code)
	}
}

func TestCellOutage(t *testing.T) {
	mon := health.NewMonitor(slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, name := range []string{"directory", "spool", "cell a store", "cell a blobs", "cell b store", "cell b blobs"} {
		mon.Add(name, func(context.Context) error {
			if strings.HasPrefix(name, "cell a") {
				return errors.New("connection refused")
			}
			return nil
		})
	}
	cluster := &Cluster{
		Nodes: []Node{{Name: "n1", Self: true, Backlog: map[string]int{"a": 3}}},
		Cells: []CellStatus{{Name: "a", Error: "connection refused", Accounts: 10, Backlog: 3}, {Name: "b", Up: true, Accounts: 12}},
	}
	h := &Handler{Health: mon, Cluster: func(context.Context) *Cluster { return cluster }, Queues: map[string]func() QueueStatus{
		"inbound": func() QueueStatus { return QueueStatus{Depth: 3} },
	}}
	h.Certificates = func() []Certificate {
		return []Certificate{{Name: "mx.example.com", NotAfter: time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)}, {Name: "mta-sts.example.com", Error: "refused"}}
	}
	mon.ProbeAll(context.Background())
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if !st.Ready || !st.Degraded || !strings.Contains(st.Message, "cell a;") || st.Cluster == nil || len(st.Cluster.Cells) != 2 || st.Cluster.Cells[0].Backlog != 3 {
		t.Fatalf("status = %+v", st)
	}
	// /readyz does not ask for the cluster.
	if s := h.Status(); s.Cluster != nil {
		t.Fatalf("Status has the cluster: %+v", s.Cluster)
	}
	page, err := http.Get(srv.URL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer page.Body.Close()
	b, _ := io.ReadAll(page.Body)
	if !strings.Contains(string(b), "<td>a</td><td class=\"downc\">unavailable</td><td>10</td><td>3</td>") {
		t.Fatalf("page = %s", b)
	}
	// Certificates show their expiry; their failures stay in /api/status.
	if !strings.Contains(string(b), "<td>mx.example.com</td><td>2027-03-01 12:00 UTC</td>") || !strings.Contains(string(b), "<td>mta-sts.example.com</td><td>none yet</td>") || strings.Contains(string(b), "refused") {
		t.Fatalf("page = %s", b)
	}
	if len(st.Certificates) != 2 || st.Certificates[1].Error != "refused" {
		t.Fatalf("certificates in /api/status: %+v", st.Certificates)
	}
}

func TestWebmailAtRoot(t *testing.T) {
	h := &Handler{Health: health.NewMonitor(slog.New(slog.NewTextHandler(io.Discard, nil)))}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `src="app.js"`) {
		t.Fatalf("/ = %d %s", resp.StatusCode, b)
	}
}

// The status tells the truth about outgoing mail: a paused outbound queue,
// or one whose oldest message should have left long ago, is degraded.
func TestOutboundDelays(t *testing.T) {
	mon := health.NewMonitor(slog.New(slog.NewTextHandler(io.Discard, nil)))
	mon.Add("store", func(context.Context) error { return nil })
	var out QueueStatus
	h := &Handler{Health: mon, Queues: map[string]func() QueueStatus{
		"outbound": func() QueueStatus { return out },
	}}
	mon.ProbeAll(context.Background())
	for _, tt := range []struct {
		q        QueueStatus
		degraded bool
	}{
		{QueueStatus{}, false},
		{QueueStatus{Depth: 40, OldestAgeSeconds: 120}, false},
		{QueueStatus{Depth: 3, OldestAgeSeconds: 3 * 3600}, true},
		{QueueStatus{Depth: 1, Paused: true}, true},
	} {
		out = tt.q
		st := h.Status()
		if st.Degraded != tt.degraded || tt.degraded != strings.HasPrefix(st.Message, "Outgoing mail is delayed") {
			t.Errorf("outbound %+v: degraded %v, %q", tt.q, st.Degraded, st.Message)
		}
	}
}

// The status, the webmail and the fault endpoint share one mux: every
// route answers, and without fault injection the endpoint is absent.
func TestRoutes(t *testing.T) {
	mon := health.NewMonitor(slog.New(slog.NewTextHandler(io.Discard, nil)))
	faults := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "faults "+r.Method) })
	for _, tt := range []struct {
		faults http.Handler
		want   map[string]int // "METHOD path" -> status
	}{
		{faults, map[string]int{"GET /api/status": 200, "GET /status": 200, "GET /": 200, "POST /admin/faults": 200, "DELETE /admin/faults": 200, "GET /admin/faults": 200}},
		{nil, map[string]int{"GET /api/status": 200, "GET /": 200, "POST /admin/faults": 404, "DELETE /admin/faults": 404}},
	} {
		srv := httptest.NewServer(&Handler{Health: mon, Faults: tt.faults})
		for req, want := range tt.want {
			method, path, _ := strings.Cut(req, " ")
			r, _ := http.NewRequest(method, srv.URL+path, nil)
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatalf("%s: %v", req, err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("%s (faults %v): %d, want %d", req, tt.faults != nil, resp.StatusCode, want)
			}
		}
		srv.Close()
	}
}

// The TLS reports received in the last day are summed up in /api/status
// and on the page; failures make a warning line, not a degraded server,
// and /readyz, asked by load balancers, does not read them.
func TestTLSReports(t *testing.T) {
	mon := health.NewMonitor(slog.New(slog.NewTextHandler(io.Discard, nil)))
	inbox := &tlsrpt.Inbox{Dir: t.TempDir()}
	var reads atomic.Int32
	h := &Handler{Health: mon, TLSReports: func() []tlsrpt.Received {
		reads.Add(1)
		sum, err := inbox.Summary()
		if err != nil {
			t.Error(err)
		}
		return sum
	}}
	for _, r := range []string{
		`{"organization-name":"Big Mail","date-range":{"start-datetime":"2026-12-01T00:00:00Z","end-datetime":"2026-12-02T00:00:00Z"},"report-id":"a",` +
			`"policies":[{"policy":{"policy-type":"sts","policy-domain":"example.test"},"summary":{"total-successful-session-count":90,"total-failure-session-count":0}}]}`,
		`{"organization-name":"Small ISP","date-range":{"start-datetime":"2026-12-01T00:00:00Z","end-datetime":"2026-12-02T00:00:00Z"},"report-id":"b",` +
			`"policies":[{"policy":{"policy-type":"sts","policy-domain":"example.test"},"summary":{"total-successful-session-count":3,"total-failure-session-count":2},` +
			`"failure-details":[{"result-type":"certificate-host-mismatch","receiving-mx-hostname":"mx.example.test","failed-session-count":2}]}]}`,
	} {
		if err := inbox.Keep("example.test", []byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string) string {
		_, body := fetch(t, srv.URL+path)
		return body
	}
	var st Status
	if err := json.Unmarshal([]byte(get("/api/status")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Degraded || st.Message != "All systems normal." || len(st.TLSReports) != 2 || len(st.Warnings) != 1 {
		t.Fatalf("status %+v", st)
	}
	if r := st.TLSReports[0]; r.Organization != "Small ISP" || r.Success != 3 || r.Failure != 2 || r.Failures["certificate-host-mismatch"] != 2 {
		t.Errorf("first summary %+v, want Small ISP's failures", r)
	}
	if w := st.Warnings[0]; !strings.Contains(w, "Small ISP counted 2 failed and 3 successful TLS sessions") || !strings.Contains(w, "certificate-host-mismatch 2") {
		t.Errorf("warning %q", w)
	}
	page := get("/status")
	for _, want := range []string{`class="warning">TLS reports: Small ISP counted 2 failed`, "<td>Big Mail</td><td>example.test</td><td>90</td><td>0</td>", "All systems normal."} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	before := reads.Load()
	if body := get("/readyz"); strings.Contains(body, "tlsReports") || reads.Load() != before {
		t.Errorf("readyz read the TLS reports: %s", body)
	}
}

// fetch gets url and returns the status code and the body.
func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
