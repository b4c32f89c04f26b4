package tlsrpt

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Inbox keeps the TLS reports other servers post about the local domains
// (RFC 8460 section 5.4), one file each under Dir/DOMAIN, and sums up
// those of the last day for the status page. It is safe for concurrent
// use.
type Inbox struct {
	Dir string // DATA/tlsrpt-received
	Now func() time.Time

	mu     sync.Mutex
	summed time.Time // when sum was made; zero after Keep
	sum    []Received
}

// summaryWindow is how far back Summary looks: senders report once a day
// (RFC 8460 section 4.1), so a day holds each one's latest report.
const summaryWindow = 24 * time.Hour

// maxSummaries bounds the entries of a summary: anyone may post reports,
// so the organizations named are as many as a sender cares to invent.
const maxSummaries = 100

// resultTypes are the result types of RFC 8460 section 4.3; others are
// counted as "other", as a sender chooses the text.
var resultTypes = []string{
	"starttls-not-supported", "certificate-host-mismatch", "certificate-expired", "certificate-not-trusted",
	"validation-failure", "tlsa-invalid", "dnssec-invalid", "dane-required",
	"sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
}

// summaryTTL is how long a summary is reused: the status page and
// /api/status are asked often, and reports arrive a few times a day.
const summaryTTL = time.Minute

// Received is what one organization reported, over the last day, of its
// sessions to the exchangers of one policy domain.
type Received struct {
	Organization string `json:"organization"`
	Domain       string `json:"domain"` // the policy domain
	Reports      int    `json:"reports"`
	Success      int    `json:"successfulSessions"`
	Failure      int    `json:"failedSessions"`
	// Failures counts failed sessions by result type (section 4.3).
	Failures map[string]int `json:"failuresByResult,omitempty"`
}

// ParseReport parses and checks a TLS report (RFC 8460 section 4.4).
func ParseReport(data []byte) (Report, error) {
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return rep, fmt.Errorf("the report is not JSON of RFC 8460 section 4.4: %w", err)
	}
	if rep.OrganizationName == "" || rep.ReportID == "" || rep.DateRange.Start.IsZero() {
		return rep, errors.New("the report lacks organization-name, report-id or date-range (RFC 8460 section 4.4)")
	}
	return rep, nil
}

func (in *Inbox) now() time.Time {
	if in.Now != nil {
		return in.Now()
	}
	return time.Now()
}

// Keep writes a report about domain under Dir/domain, synced, named by
// the day it arrived and the hash of its content, so a report posted
// twice is kept once.
func (in *Inbox) Keep(domain string, data []byte) error {
	dir := filepath.Join(in.Dir, domain)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	name := in.now().UTC().Format("20060102") + "-" + hex.EncodeToString(sum[:8]) + ".json"
	tmp, err := os.CreateTemp(dir, ".report-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	in.mu.Lock()
	in.summed = time.Time{} // the next Summary shows it
	in.mu.Unlock()
	return nil
}

// Summary sums up the reports kept in the last day per organization and
// policy domain: the most failed sessions first, then by domain and
// organization, at most maxSummaries. The summary is reused for
// summaryTTL. A report that cannot be read is skipped, and named in the
// error of the call that read the files.
func (in *Inbox) Summary() ([]Received, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	now := in.now()
	if !in.summed.IsZero() && now.Sub(in.summed) < summaryTTL {
		return in.sum, nil
	}
	sum, err := in.summarize(now.Add(-summaryWindow))
	in.sum, in.summed = sum, now
	return sum, err
}

// summarize reads the reports kept since then.
func (in *Inbox) summarize(since time.Time) ([]Received, error) {
	domains, err := os.ReadDir(in.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tlsrpt: reading the received reports: %w", err)
	}
	type key struct{ org, domain string }
	byKey := map[key]*Received{}
	var errs []error
	for _, d := range domains {
		if !d.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(in.Dir, d.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, f := range files {
			info, err := f.Info()
			if err != nil || !strings.HasSuffix(f.Name(), ".json") || info.ModTime().Before(since) {
				continue
			}
			path := filepath.Join(in.Dir, d.Name(), f.Name())
			data, err := os.ReadFile(path)
			if err == nil {
				var rep Report
				if rep, err = ParseReport(data); err == nil {
					counted := map[key]bool{}
					for _, p := range rep.Policies {
						k := key{truncate(rep.OrganizationName), truncate(strings.ToLower(p.Policy.Domain))}
						r := byKey[k]
						if r == nil {
							r = &Received{Organization: k.org, Domain: k.domain}
							byKey[k] = r
						}
						if !counted[k] {
							counted[k] = true
							r.Reports++
						}
						r.add(p)
					}
					continue
				}
			}
			errs = append(errs, fmt.Errorf("tlsrpt: %s: %w", path, err))
		}
	}
	out := make([]Received, 0, len(byKey))
	for _, r := range byKey {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Received) int {
		return cmp.Or(cmp.Compare(b.Failure, a.Failure), cmp.Compare(a.Domain, b.Domain), cmp.Compare(a.Organization, b.Organization))
	})
	return out[:min(len(out), maxSummaries)], errors.Join(errs...)
}

// truncate bounds a name a sender chose to 100 bytes of valid UTF-8.
func truncate(s string) string {
	if len(s) > 100 {
		s = s[:100]
	}
	return strings.ToValidUTF8(s, "")
}

// add counts one policy's sessions. The failure details may name fewer
// sessions than the summary counts (section 4.4 lets a sender leave them
// out); the rest are counted under "unspecified".
func (r *Received) add(p PolicyResult) {
	r.Success += count(p.Summary.Success)
	r.Failure += count(p.Summary.Failure)
	detailed := 0
	for _, f := range p.Failures {
		n := count(f.FailedSessionCount)
		if n == 0 {
			continue
		}
		if r.Failures == nil {
			r.Failures = map[string]int{}
		}
		t := f.ResultType
		if !slices.Contains(resultTypes, t) {
			t = "other"
		}
		r.Failures[t] += n
		detailed += n
	}
	if rest := count(p.Summary.Failure) - detailed; rest > 0 {
		if r.Failures == nil {
			r.Failures = map[string]int{}
		}
		r.Failures["unspecified"] += rest
	}
}

// count bounds a session count a sender wrote, so that sums cannot
// overflow: 0 to 2^32.
func count(n int) int {
	return min(max(n, 0), 1<<32)
}
