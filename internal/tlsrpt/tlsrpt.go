// Package tlsrpt collects the outcome of outbound TLS sessions and sends
// the daily reports of SMTP TLS Reporting (RFC 8460) to the domains that
// ask for them, so that a domain sees when its MTA-STS policy or DANE
// records stop senders from reaching it.
//
// Each session's outcome is one JSON line appended to a file per UTC day
// under the data directory; losing a few lines in a crash costs a report a
// few counts, so they are not synced. Once a day is over its file is
// turned into one report per policy domain and removed.
package tlsrpt

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"casella/internal/resolver"
	"casella/internal/spool"
)

// Policy types (RFC 8460 section 4.4).
const (
	PolicySTS  = "sts"
	PolicyTLSA = "tlsa"
	PolicyNone = "no-policy-found"
)

// Event is the outcome of one TLS session with a mail exchanger.
type Event struct {
	Domain     string   `json:"domain"` // the policy domain: the recipient's
	PolicyType string   `json:"type"`
	Policy     []string `json:"policy,omitempty"` // the policy's lines or the TLSA records
	MX         string   `json:"mx"`
	// Failure is the result type of section 4.3, "" for a success.
	Failure string `json:"failure,omitempty"`
}

// Classify returns the result type of section 4.3 for a failed session.
func Classify(err error) string {
	var host x509.HostnameError
	var auth x509.UnknownAuthorityError
	var inv x509.CertificateInvalidError
	switch {
	case errors.As(err, &host):
		return "certificate-host-mismatch"
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		return "certificate-expired"
	case errors.As(err, &auth):
		return "certificate-not-trusted"
	case strings.Contains(err.Error(), "doesn't support STARTTLS"):
		return "starttls-not-supported"
	default:
		return "validation-failure"
	}
}

// Recorder keeps events and sends reports. It is safe for concurrent use.
type Recorder struct {
	Dir string // DATA/tlsrpt
	// Submitter is this server's host name, which reports name as theirs.
	Submitter string
	Resolver  *resolver.Resolver
	// Mail sends reports to mailto: addresses: the outbound queue.
	Mail interface {
		Enqueue(ctx context.Context, env spool.Envelope, data []byte) (string, error)
	}
	// HTTP posts reports to https: addresses; nil means a client with a
	// one-minute timeout.
	HTTP   *http.Client
	Logger *slog.Logger
	Now    func() time.Time // default time.Now

	mu sync.Mutex
}

func (r *Recorder) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

// Record appends an event to the current day's file.
func (r *Recorder) Record(ev Event) {
	line, err := json.Marshal(ev)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.MkdirAll(r.Dir, 0o750); err != nil {
		r.Logger.Warn("tlsrpt: cannot keep the session outcome", "err", err)
		return
	}
	f, err := os.OpenFile(filepath.Join(r.Dir, r.now().Format(time.DateOnly)+".jsonl"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		r.Logger.Warn("tlsrpt: cannot keep the session outcome", "err", err)
		return
	}
	defer f.Close()
	f.Write(append(line, '\n'))
}

// Report is a report of RFC 8460 section 4.4.
type Report struct {
	OrganizationName string         `json:"organization-name"`
	DateRange        DateRange      `json:"date-range"`
	ContactInfo      string         `json:"contact-info"`
	ReportID         string         `json:"report-id"`
	Policies         []PolicyResult `json:"policies"`
}

// DateRange is the day a report covers.
type DateRange struct {
	Start time.Time `json:"start-datetime"`
	End   time.Time `json:"end-datetime"`
}

// PolicyResult counts the sessions under one policy.
type PolicyResult struct {
	Policy struct {
		Type   string   `json:"policy-type"`
		String []string `json:"policy-string,omitempty"`
		Domain string   `json:"policy-domain"`
		MXHost []string `json:"mx-host,omitempty"`
	} `json:"policy"`
	Summary struct {
		Success int `json:"total-successful-session-count"`
		Failure int `json:"total-failure-session-count"`
	} `json:"summary"`
	Failures []FailureDetails `json:"failure-details,omitempty"`
}

// FailureDetails counts the failures of one kind with one exchanger.
type FailureDetails struct {
	ResultType         string `json:"result-type"`
	ReceivingMXHost    string `json:"receiving-mx-hostname"`
	FailedSessionCount int    `json:"failed-session-count"`
}

// Reports aggregates the events of a day file into one report per policy
// domain.
func (r *Recorder) Reports(day time.Time, events []Event) map[string]*Report {
	reports := map[string]*Report{}
	type key struct{ domain, typ, policy string }
	results := map[key]*PolicyResult{}
	var order []key
	for _, ev := range events {
		rep, ok := reports[ev.Domain]
		if !ok {
			id := make([]byte, 8)
			rand.Read(id)
			rep = &Report{
				OrganizationName: r.Submitter,
				DateRange:        DateRange{Start: day, End: day.Add(24*time.Hour - time.Second)},
				ContactInfo:      "postmaster@" + r.Submitter,
				ReportID:         fmt.Sprintf("%s_%s@%s", day.Format(time.DateOnly), hex.EncodeToString(id), r.Submitter),
			}
			reports[ev.Domain] = rep
		}
		k := key{ev.Domain, ev.PolicyType, strings.Join(ev.Policy, "\n")}
		pr, ok := results[k]
		if !ok {
			pr = &PolicyResult{}
			pr.Policy.Type, pr.Policy.String, pr.Policy.Domain = ev.PolicyType, ev.Policy, ev.Domain
			results[k] = pr
			order = append(order, k)
		}
		if !slices.Contains(pr.Policy.MXHost, ev.MX) {
			pr.Policy.MXHost = append(pr.Policy.MXHost, ev.MX)
		}
		if ev.Failure == "" {
			pr.Summary.Success++
			continue
		}
		pr.Summary.Failure++
		found := false
		for i := range pr.Failures {
			if f := &pr.Failures[i]; f.ResultType == ev.Failure && f.ReceivingMXHost == ev.MX {
				f.FailedSessionCount++
				found = true
			}
		}
		if !found {
			pr.Failures = append(pr.Failures, FailureDetails{ResultType: ev.Failure, ReceivingMXHost: ev.MX, FailedSessionCount: 1})
		}
	}
	for _, k := range order {
		reports[k.domain].Policies = append(reports[k.domain].Policies, *results[k])
	}
	return reports
}

// SendDue sends the reports of every day before today still on disk and
// removes each day's file once its reports are sent or have nowhere to go.
// A domain whose report cannot be delivered now is tried again at the
// next call, for a week.
func (r *Recorder) SendDue(ctx context.Context) {
	files, _ := filepath.Glob(filepath.Join(r.Dir, "*.jsonl"))
	sort.Strings(files)
	today := r.now().Format(time.DateOnly)
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".jsonl")
		day, err := time.Parse(time.DateOnly, name)
		if err != nil || name >= today {
			continue
		}
		events, err := readEvents(path)
		if err != nil {
			r.Logger.Warn("tlsrpt: unreadable day file, removed", "file", path, "err", err)
			os.Remove(path)
			continue
		}
		var left []Event
		for domain, rep := range r.Reports(day, events) {
			if err := r.send(ctx, domain, rep); err != nil {
				r.Logger.Info("tlsrpt: report not sent, will retry", "domain", domain, "err", err)
				for _, ev := range events {
					if ev.Domain == domain {
						left = append(left, ev)
					}
				}
			}
		}
		if len(left) == 0 || r.now().Sub(day) > 7*24*time.Hour {
			os.Remove(path)
			continue
		}
		if err := writeEvents(path, left); err != nil {
			r.Logger.Warn("tlsrpt: keeping unsent reports", "err", err)
		}
	}
}

// send delivers one report to the addresses of the domain's TLSRPT record
// (section 3); a domain without one gets none.
func (r *Recorder) send(ctx context.Context, domain string, rep *Report) error {
	res, err := r.Resolver.TXT(ctx, "_smtp._tls."+domain)
	if errors.Is(err, resolver.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var rua []string
	for _, txt := range res.Records {
		if !strings.HasPrefix(txt, "v=TLSRPTv1") {
			continue
		}
		for _, field := range strings.Split(txt, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(field), "rua="); ok {
				for _, u := range strings.Split(v, ",") {
					rua = append(rua, strings.TrimSpace(u))
				}
			}
		}
	}
	body, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(body)
	zw.Close()
	var errs []error
	for _, u := range rua {
		switch {
		case strings.HasPrefix(u, "mailto:"):
			errs = append(errs, r.mail(ctx, domain, strings.TrimPrefix(u, "mailto:"), rep, gz.Bytes()))
		case strings.HasPrefix(u, "https:"):
			errs = append(errs, r.post(ctx, u, gz.Bytes()))
		}
	}
	return errors.Join(errs...)
}

// mail queues a report message (section 5.3).
func (r *Recorder) mail(ctx context.Context, domain, to string, rep *Report, gz []byte) error {
	if i := strings.IndexByte(to, '?'); i >= 0 {
		to = to[:i]
	}
	from := "noreply-tlsrpt@" + r.Submitter
	boundary := "tlsrpt-" + rep.ReportID[:strings.IndexByte(rep.ReportID, '@')]
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	w("From: <%s>", from)
	w("To: <%s>", to)
	w("Subject: Report Domain: %s Submitter: %s Report-ID: <%s>", domain, r.Submitter, rep.ReportID)
	w("Date: %s", r.now().Format(time.RFC1123Z))
	w("Message-ID: <%s>", rep.ReportID)
	w("TLS-Report-Domain: %s", domain)
	w("TLS-Report-Submitter: %s", r.Submitter)
	w("Auto-Submitted: auto-generated")
	w("MIME-Version: 1.0")
	w("Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"%s\"", boundary)
	w("")
	w("--%s", boundary)
	w("Content-Type: text/plain; charset=utf-8")
	w("")
	w("This is an aggregate TLS report from %s for %s (RFC 8460).", r.Submitter, domain)
	w("")
	w("--%s", boundary)
	w("Content-Type: application/tlsrpt+gzip")
	w("Content-Transfer-Encoding: base64")
	w("Content-Disposition: attachment; filename=\"%s!%s!%d!%d.json.gz\"", r.Submitter, domain, rep.DateRange.Start.Unix(), rep.DateRange.End.Unix())
	w("")
	enc := base64.StdEncoding.EncodeToString(gz)
	for len(enc) > 76 {
		w("%s", enc[:76])
		enc = enc[76:]
	}
	w("%s", enc)
	w("--%s--", boundary)
	_, err := r.Mail.Enqueue(ctx, spool.Envelope{From: from, Recipients: []spool.Recipient{{Address: to}}}, b.Bytes())
	return err
}

// post sends a report to an https: address (section 5.4).
func (r *Recorder) post(ctx context.Context, url string, gz []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(gz))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/tlsrpt+gzip")
	client := r.HTTP
	if client == nil {
		client = &http.Client{Timeout: time.Minute}
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

func readEvents(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var events []Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev Event
		// A line torn by a crash is skipped, not the day.
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Domain != "" {
			events = append(events, ev)
		}
	}
	return events, sc.Err()
}

func writeEvents(path string, events []Event) error {
	var b bytes.Buffer
	for _, ev := range events {
		line, _ := json.Marshal(ev)
		b.Write(append(line, '\n'))
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
