package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"casella/internal/health"
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

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

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
	if code, body := get("/"); code != 200 || !strings.Contains(body, "Mailbox storage is unavailable") {
		t.Fatalf("status page = %d %q", code, body)
	}

	// A spool failure stops intake.
	spoolErr = errors.New("disk full")
	mon.ProbeAll(context.Background())
	if code, _ := get("/readyz"); code != 503 {
		t.Fatalf("readyz with spool down = %d, want 503", code)
	}
}
