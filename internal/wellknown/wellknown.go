// Package wellknown serves what other mail servers and people's mail
// clients fetch over HTTPS from a domain hosted here: the MTA-STS policy
// (RFC 8461 section 3.3) and the TLS reports posted to it (RFC 8460
// section 5.4) on the mta-sts.DOMAIN host, and the documents that let a
// client set itself up from an address alone: Thunderbird's autoconfig,
// Outlook's autodiscover (XML and JSON v2) and an Apple configuration
// profile.
//
// Implementation notes:
//   - Requests are routed by Host before the rest of the HTTP listener
//     sees them: everything on mta-sts.DOMAIN is this package's, and so are
//     the client setup paths on any host.
//   - Only local domains are answered; anything else is 404, so the
//     server does not describe itself for domains it does not host.
//   - Every input is hostile: addresses are checked against a strict
//     grammar and a length, request bodies are size-limited, and all
//     output goes through encoding/xml or encoding/json escaping.
//   - What the documents say comes from package publish, the source of
//     the DNS records too, so clients and DNS cannot disagree.
//   - Each refusal is logged with its reason and counted (Refused).
package wellknown

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"casella/internal/config"
	"casella/internal/publish"
	"casella/internal/tlsrpt"
)

// Directory says which domains are local.
type Directory interface {
	IsLocal(ctx context.Context, domain string) (bool, error)
}

// Handler routes the requests of this package and passes the rest to
// Next.
type Handler struct {
	Config    config.Config
	Directory Directory
	// Reports keeps the TLS reports received.
	Reports *tlsrpt.Inbox
	Log     *slog.Logger
	// Refused counts a refused request by reason; it may be nil.
	Refused func(reason string)
	Next    http.Handler
}

// Paths of the client setup documents.
const (
	autoconfigPath     = "/.well-known/autoconfig/mail/config-v1.1.xml" // on any host
	autoconfigHostPath = "/mail/config-v1.1.xml"                        // on autoconfig.DOMAIN
	autodiscoverXML    = "/autodiscover/autodiscover.xml"
	autodiscoverJSON   = "/autodiscover/autodiscover.json"
	mobileconfigPath   = "/.well-known/apple-mail.mobileconfig"
	stsPolicyPath      = "/.well-known/mta-sts.txt"
)

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := requestHost(r)
	path := r.URL.Path
	// Outlook writes /Autodiscover/Autodiscover.xml; paths are compared
	// without case for it.
	lower := strings.ToLower(path)
	switch {
	case strings.HasPrefix(host, "mta-sts."):
		h.serveSTSHost(w, r, strings.TrimPrefix(host, "mta-sts."))
	case path == autoconfigPath || path == autoconfigHostPath && strings.HasPrefix(host, "autoconfig."):
		h.serveAutoconfig(w, r, host)
	case lower == autodiscoverXML:
		h.serveAutodiscover(w, r)
	case lower == autodiscoverJSON || strings.HasPrefix(lower, autodiscoverJSON+"/"):
		h.serveAutodiscoverJSON(w, r)
	case path == mobileconfigPath:
		h.serveMobileconfig(w, r)
	default:
		h.Next.ServeHTTP(w, r)
	}
}

// requestHost returns the request's host name, lower-case, without port
// and trailing dot.
func requestHost(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// refuse answers an error and logs and counts the refusal.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	h.Log.Info("well-known request refused", "path", r.URL.Path, "host", r.Host, "remote", r.RemoteAddr, "reason", reason, "msg", msg)
	if h.Refused != nil {
		h.Refused(reason)
	}
	http.Error(w, msg, status)
}

// local reports whether domain is a local domain; an error of the
// directory is answered 503 and false returned.
func (h *Handler) local(w http.ResponseWriter, r *http.Request, domain string) bool {
	ok, err := h.Directory.IsLocal(r.Context(), domain)
	if err != nil {
		h.Log.Warn("well-known: the directory cannot say which domains are local", "err", err)
		http.Error(w, "The directory is unavailable; try again later.", http.StatusServiceUnavailable)
		return false
	}
	if !ok {
		h.refuse(w, r, http.StatusNotFound, "unknown-domain", "No mail domain "+domain+" here.")
		return false
	}
	return true
}

// maxAddress is the longest address taken (RFC 5321 section 4.5.3.1.3
// bounds a path to 256 octets, brackets included).
const maxAddress = 254

// parseAddress checks an email address from a request and returns it
// with its domain lower-cased. The local part may be any printable
// characters but those that would need quoting (RFC 5322 section 3.2.3
// specials) or UTF-8 (RFC 6531); the domain is host name labels.
func parseAddress(s string) (addr, domain string, ok bool) {
	at := strings.LastIndexByte(s, '@')
	if len(s) > maxAddress || at < 1 || at > 64 {
		return "", "", false
	}
	local, domain := s[:at], strings.ToLower(s[at+1:])
	for _, c := range local {
		if c < 0x21 || c == 0x7f || c == 0xfffd || strings.ContainsRune(`"(),:;<>@[\]`, c) {
			return "", "", false
		}
	}
	if !validDomain(domain) {
		return "", "", false
	}
	return local + "@" + domain, domain, true
}

// validDomain reports whether s is a host name: labels of letters,
// digits and hyphens (IDNs in their A-label form), at least two.
func validDomain(s string) bool {
	labels := strings.Split(s, ".")
	if len(s) > 253 || len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range []byte(l) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// setup is what a client needs: the address, its login name and the
// servers to use.
type setup struct {
	Address, Domain string
	IMAP, POP3      []publish.Endpoint
	Submission      []publish.Endpoint
}

// clientSetup returns the setup of an address of domain: the enabled
// endpoints of each kind, implicit TLS first.
func (h *Handler) clientSetup(addr, domain string) setup {
	s := setup{Address: addr, Domain: domain}
	for _, ep := range publish.Endpoints(h.Config) {
		if ep.Host == "" {
			continue
		}
		switch ep.Kind {
		case publish.IMAP:
			s.IMAP = append(s.IMAP, ep)
		case publish.POP3:
			s.POP3 = append(s.POP3, ep)
		case publish.Submission:
			s.Submission = append(s.Submission, ep)
		}
	}
	return s
}
