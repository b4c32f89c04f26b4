// Package publish says what a domain hosted here must publish so that
// other mail servers and people's mail clients find this server: the DNS
// records (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, the RFC 6186 SRV
// records and the client setup host names), the MTA-STS policy (RFC 8461)
// and the client endpoints that autoconfig, autodiscover and Apple
// profiles hand out. Check asks DNS which of the records are missing or
// wrong.
//
// Implementation notes:
//   - Everything is derived from the configuration and the DKIM keys on
//     disk, never stored: the records printed, the records checked and
//     the documents served cannot disagree.
//   - The host name of every record is the server's hostname; the ports
//     are those of its listeners. A disabled listener is published as a
//     SRV record with target "." (RFC 6186 section 4), so clients do not
//     try a service that is not there.
package publish

import (
	"net"
	"strconv"
	"strings"
	"time"

	"casella/internal/config"
	"casella/internal/mtasts"
)

// Kinds of client endpoint.
const (
	IMAP       = "imap"
	POP3       = "pop3"
	Submission = "submission"
	HTTPS      = "https" // JMAP, autodiscover, MTA-STS
)

// Endpoint is where clients reach one service.
type Endpoint struct {
	Kind string // IMAP, POP3, Submission or HTTPS
	// Service is the SRV service name (RFC 6186 section 3, RFC 8314
	// section 5.1): "imaps", "imap", "submissions"...
	Service string
	Host    string // "" when the listener is disabled
	Port    int
	// TLS is implicit TLS from the first byte; false means STARTTLS.
	TLS bool
}

// Endpoints returns cfg's client endpoints, implicit TLS first for each
// kind (RFC 8314 section 3), disabled listeners included with no Host.
func Endpoints(cfg config.Config) []Endpoint {
	eps := []Endpoint{
		endpoint(cfg, IMAP, "imaps", cfg.IMAP.TLSListen, true),
		endpoint(cfg, IMAP, "imap", cfg.IMAP.Listen, false),
		endpoint(cfg, POP3, "pop3s", cfg.POP3.TLSListen, true),
		endpoint(cfg, POP3, "pop3", cfg.POP3.Listen, false),
		endpoint(cfg, Submission, "submissions", cfg.SMTP.Submissions, true),
		endpoint(cfg, Submission, "submission", cfg.SMTP.Submission, false),
	}
	https := Endpoint{Kind: HTTPS, Service: "https", Host: cfg.Hostname, Port: 443, TLS: true}
	if cfg.HTTP.TLSListen != "" {
		https = endpoint(cfg, HTTPS, "https", cfg.HTTP.TLSListen, true)
	}
	return append(eps, https)
}

func endpoint(cfg config.Config, kind, service, listen string, tls bool) Endpoint {
	ep := Endpoint{Kind: kind, Service: service, TLS: tls}
	if listen == "" {
		return ep
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ep // config.Validate refuses it
	}
	ep.Port, err = strconv.Atoi(port)
	if err != nil {
		return ep
	}
	ep.Host = cfg.Hostname
	return ep
}

// Preferred returns the first enabled endpoint of kind, and false when
// every listener of that kind is disabled.
func Preferred(eps []Endpoint, kind string) (Endpoint, bool) {
	for _, ep := range eps {
		if ep.Kind == kind && ep.Host != "" {
			return ep, true
		}
	}
	return Endpoint{}, false
}

// stsMaxAge is the max_age of the policy served: a week, as RFC 8461
// section 3.2 suggests ("weeks or greater"). Senders look at the TXT
// record's id before each delivery, so a change of policy is seen at
// once; max_age only says how long it outlives a record that vanished.
const stsMaxAge = 7 * 24 * time.Hour

// STSPolicy returns the MTA-STS policy of the local domains: the
// configured mode, and the MX hosts.
func STSPolicy(cfg config.Config) mtasts.Policy {
	return mtasts.Policy{
		Mode:   cfg.SMTP.MTASTSMode,
		MX:     MXHosts(cfg),
		MaxAge: stsMaxAge,
	}
}

// MXHosts returns the names, and patterns "*.example.net", of the hosts
// that receive the local domains' mail: [smtp] mx_hosts, or the hostname
// alone; lower case, without a trailing dot.
func MXHosts(cfg config.Config) []string {
	hosts := cfg.SMTP.MXHosts
	if len(hosts) == 0 {
		hosts = []string{cfg.Hostname}
	}
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = strings.ToLower(strings.TrimSuffix(h, "."))
	}
	return out
}

// TLSRPTPath is the path on the mta-sts host where TLS reports are posted
// (RFC 8460 section 3, an https rua).
const TLSRPTPath = "/tlsrpt"

// TLSRPTURI returns the https address that domain's TLS-RPT record
// names for reports.
func TLSRPTURI(cfg config.Config, domain string) string {
	return HTTPSURL(cfg, "mta-sts."+domain, TLSRPTPath)
}

// HTTPSURL returns the URL of path on host at this server's HTTPS port.
func HTTPSURL(cfg config.Config, host, path string) string {
	ep, _ := Preferred(Endpoints(cfg), HTTPS)
	if ep.Port != 443 {
		host = net.JoinHostPort(host, strconv.Itoa(ep.Port))
	}
	return "https://" + host + path
}
