package wellknown

import (
	"compress/gzip"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"

	"casella/internal/publish"
	"casella/internal/tlsrpt"
)

// Bounds on a TLS report posted: its body as sent and once uncompressed.
// A day of a large sender's sessions to one domain is a few KiB.
const (
	maxReportBody = 1 << 20
	maxReport     = 8 << 20
)

// serveSTSHost serves the mta-sts.DOMAIN host: the policy (RFC 8461
// section 3.3) and the TLS reports senders post (RFC 8460 section 5.4).
func (h *Handler) serveSTSHost(w http.ResponseWriter, r *http.Request, domain string) {
	switch {
	case r.URL.Path == stsPolicyPath && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		if !h.local(w, r, domain) {
			return
		}
		// Section 3.3: text/plain, no redirects, and senders do not
		// cache beyond max_age themselves.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		io.WriteString(w, publish.STSPolicy(h.Config).Text())
	case r.URL.Path == publish.TLSRPTPath && r.Method == http.MethodPost:
		if !h.local(w, r, domain) {
			return
		}
		h.receiveReport(w, r, domain)
	default:
		h.refuse(w, r, http.StatusNotFound, "not-found", "Not found; this host serves "+stsPolicyPath+".")
	}
}

// receiveReport keeps a TLS report posted for domain (RFC 8460 section
// 5.4: application/tlsrpt+gzip or application/tlsrpt+json) and answers
// 200, or 4xx when it is not one.
func (h *Handler) receiveReport(w http.ResponseWriter, r *http.Request, domain string) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var body io.Reader = http.MaxBytesReader(w, r.Body, maxReportBody)
	switch ct {
	case "application/tlsrpt+gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			h.refuse(w, r, http.StatusBadRequest, "bad-report", "The body is not gzip: "+err.Error())
			return
		}
		body = zr
	case "application/tlsrpt+json":
	default:
		h.refuse(w, r, http.StatusUnsupportedMediaType, "bad-report", "Send application/tlsrpt+gzip or application/tlsrpt+json (RFC 8460 section 5.4).")
		return
	}
	data, err := io.ReadAll(io.LimitReader(body, maxReport+1))
	if err != nil || len(data) > maxReport {
		h.refuse(w, r, http.StatusRequestEntityTooLarge, "bad-report", fmt.Sprintf("The report is unreadable or larger than %d bytes.", maxReport))
		return
	}
	rep, err := tlsrpt.ParseReport(data)
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, "bad-report", err.Error())
		return
	}
	if err := h.Reports.Keep(domain, data); err != nil {
		h.Log.Error("tls report: cannot keep it; the sender is told to try again", "domain", domain, "err", err)
		http.Error(w, "The report cannot be stored now; try again later.", http.StatusServiceUnavailable)
		return
	}
	success, failure := 0, 0
	for _, p := range rep.Policies {
		success += p.Summary.Success
		failure += p.Summary.Failure
	}
	level := slog.LevelInfo
	if failure > 0 {
		level = slog.LevelWarn // senders could not reach us with TLS
	}
	h.Log.Log(r.Context(), level, "tls report received", "domain", domain, "organization", rep.OrganizationName,
		"report_id", rep.ReportID, "start", rep.DateRange.Start, "successful_sessions", success, "failed_sessions", failure)
	w.WriteHeader(http.StatusOK)
}
