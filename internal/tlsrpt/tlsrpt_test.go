package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"casella/internal/resolver"
	"casella/internal/resolver/dnstest"
	"casella/internal/spool"
)

type queue struct {
	mu  sync.Mutex
	got [][]byte
	env []spool.Envelope
}

func (q *queue) Enqueue(_ context.Context, env spool.Envelope, data []byte) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.got, q.env = append(q.got, data), append(q.env, env)
	return "id", nil
}

// mailedReport decodes the JSON report attached to a report message.
func mailedReport(t *testing.T, msg []byte) Report {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if mt != "multipart/report" || params["report-type"] != "tlsrpt" || m.Header.Get("TLS-Report-Domain") != "remote.test" {
		t.Fatalf("report message header: %v", m.Header)
	}
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := r.NextPart()
		if err != nil {
			t.Fatal("no application/tlsrpt+gzip part")
		}
		if p.Header.Get("Content-Type") != "application/tlsrpt+gzip" {
			continue
		}
		zr, err := gzip.NewReader(base64.NewDecoder(base64.StdEncoding, p))
		if err != nil {
			t.Fatal(err)
		}
		var rep Report
		if err := json.NewDecoder(zr).Decode(&rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
}

func TestDailyReports(t *testing.T) {
	var posted []byte
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/tlsrpt+gzip" {
			http.Error(w, "type", http.StatusUnsupportedMediaType)
			return
		}
		posted, _ = io.ReadAll(r.Body)
	}))
	defer web.Close()
	srv := dnstest.Start(t,
		`_smtp._tls.remote.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:tls-reports@remote.test,`+strings.Replace(web.URL, "http:", "https:", 1)+`"`,
		`_smtp._tls.flaky.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:x@flaky.test"`,
	)
	srv.Fail("_smtp._tls.flaky.test", dns.RcodeServerFailure)
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	now := day.Add(10 * time.Hour)
	q := &queue{}
	rec := &Recorder{
		Dir: t.TempDir(), Submitter: "mx.example.test",
		Resolver: &resolver.Resolver{Servers: []string{srv.Addr}},
		Mail:     q, Logger: slog.New(slog.DiscardHandler),
		// The https: address is served over plain HTTP in this test.
		HTTP: &http.Client{Transport: rewrite{web.URL}},
		Now:  func() time.Time { return now },
	}
	sts := []string{"version: STSv1", "mode: enforce", "mx: mx.remote.test", "max_age: 86400"}
	for range 3 {
		rec.Record(Event{Domain: "remote.test", PolicyType: PolicySTS, Policy: sts, MX: "mx.remote.test"})
	}
	rec.Record(Event{Domain: "remote.test", PolicyType: PolicySTS, Policy: sts, MX: "mx.remote.test", Failure: "certificate-host-mismatch"})
	rec.Record(Event{Domain: "nobody.test", PolicyType: PolicyNone, MX: "mx.nobody.test"})
	rec.Record(Event{Domain: "flaky.test", PolicyType: PolicyNone, MX: "mx.flaky.test"})

	rec.SendDue(context.Background()) // the day is not over: nothing
	if len(q.got) != 0 {
		t.Fatal("a report was sent before its day ended")
	}
	now = day.Add(30 * time.Hour)
	rec.SendDue(context.Background())
	if len(q.got) != 1 || q.env[0].Recipients[0].Address != "tls-reports@remote.test" {
		t.Fatalf("%d reports mailed (%v), want 1 to tls-reports@remote.test", len(q.got), q.env)
	}
	rep := mailedReport(t, q.got[0])
	if len(rep.Policies) != 1 {
		t.Fatalf("report %+v", rep)
	}
	p := rep.Policies[0]
	if p.Policy.Type != PolicySTS || p.Policy.Domain != "remote.test" || p.Summary.Success != 3 || p.Summary.Failure != 1 ||
		len(p.Failures) != 1 || p.Failures[0].ResultType != "certificate-host-mismatch" || p.Failures[0].FailedSessionCount != 1 ||
		!rep.DateRange.Start.Equal(day) || rep.OrganizationName != "mx.example.test" {
		t.Fatalf("report %+v", rep)
	}
	if len(posted) == 0 {
		t.Fatal("nothing posted to the https: address")
	}
	// The day file keeps flaky.test's events only, for the next try.
	events, err := readEvents(filepath.Join(rec.Dir, "2026-12-01.jsonl"))
	if err != nil || len(events) != 1 || events[0].Domain != "flaky.test" {
		t.Fatalf("left %+v, %v", events, err)
	}
	now = day.Add(9 * 24 * time.Hour)
	rec.SendDue(context.Background())
	if _, err := os.Stat(filepath.Join(rec.Dir, "2026-12-01.jsonl")); !os.IsNotExist(err) {
		t.Fatalf("a week later the day file is still there: %v", err)
	}
}

// rewrite sends every request to the test server.
type rewrite struct{ base string }

func (r rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	u := *req.URL
	u.Scheme, u.Host = "http", strings.TrimPrefix(r.base, "http://")
	req = req.Clone(req.Context())
	req.URL = &u
	return http.DefaultTransport.RoundTrip(req)
}
