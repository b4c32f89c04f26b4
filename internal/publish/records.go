package publish

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"casella/internal/config"
	"casella/internal/dkim"
)

// Kinds of record, each checked its own way.
const (
	KindHost   = "host" // the server's own addresses, which only the operator knows
	KindMX     = "mx"
	KindSPF    = "spf"
	KindDKIM   = "dkim"
	KindDMARC  = "dmarc"
	KindMTASTS = "mta-sts"
	KindTLSRPT = "tls-rpt"
	KindSRV    = "srv"
	// KindAlias is a host name that must lead to the server: a CNAME to
	// it, or addresses of its own equal to the server's.
	KindAlias = "alias"
)

// TTL of the records printed: an hour, short enough to fix a mistake the
// same day.
const TTL = 3600

// Record is one DNS record a domain publishes.
type Record struct {
	Kind string
	Name string // the owner name, without the trailing dot
	// RR is the record to publish; nil for KindHost, whose addresses
	// only the operator knows.
	RR   dns.RR
	Note string // what it is for, printed as a zone file comment
}

// Value returns the record's data in zone file syntax.
func (r Record) Value() string {
	switch {
	case r.Kind == KindPolicy:
		return "this server's policy, over HTTPS with a certificate valid for the name"
	case r.RR == nil:
		return "A/AAAA: the server's public addresses"
	}
	return strings.TrimPrefix(r.RR.String(), r.RR.Header().String())
}

// Records returns what domain must publish to receive mail here, send it
// with DKIM keys (domain's, from the keyring) and let clients set
// themselves up.
func Records(cfg config.Config, domain string, keys []dkim.Key) []Record {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	host := strings.ToLower(strings.TrimSuffix(cfg.Hostname, "."))
	eps := Endpoints(cfg)
	recs := []Record{
		{Kind: KindHost, Name: host, Note: "The server's own name must have its public addresses (A and AAAA records)."},
	}
	// One MX record per host, of equal preference: senders spread the
	// mail over them (RFC 5321 section 5.1). A pattern of [smtp]
	// mx_hosts is for the MTA-STS policy only.
	for _, mx := range MXHosts(cfg) {
		if !strings.HasPrefix(mx, "*.") {
			recs = append(recs, Record{Kind: KindMX, Name: domain, RR: &dns.MX{Hdr: hdr(domain, dns.TypeMX), Preference: 10, Mx: dns.Fqdn(mx)},
				Note: "Mail for the domain goes to this host (RFC 5321 section 5.1)."})
		}
	}
	recs = append(recs,
		// ~all rather than -all: a receiver that rejects on an SPF fail
		// does so before DMARC can find a valid DKIM signature on
		// forwarded mail (RFC 7489 section 10.1).
		Record{Kind: KindSPF, Name: domain, RR: txt(domain, "v=spf1 mx ~all"),
			Note: "SPF (RFC 7208): the domain's mail leaves from its MX hosts. With a smarthost, add its include: or ip4: terms."},
	)
	hasKeys := false
	for _, k := range keys {
		if k.Domain != domain {
			continue
		}
		hasKeys = true
		recs = append(recs, Record{Kind: KindDKIM, Name: k.RecordName(), RR: txt(k.RecordName(), k.Record()),
			Note: "DKIM keys (RFC 6376, RFC 8463) that sign the domain's mail; casella dkim generate makes them."})
	}
	// Reject only when every message leaves signed: without DKIM, DMARC
	// passes on SPF alone, which forwarding breaks.
	dmarc, dmarcNote := "v=DMARC1; p=reject", "DMARC (RFC 7489): receivers reject mail that claims the domain and fails both SPF and DKIM."
	if !hasKeys {
		dmarc, dmarcNote = "v=DMARC1; p=none", "DMARC (RFC 7489): p=none until the domain has DKIM keys (casella dkim generate), then p=reject."
	}
	recs = append(recs, Record{Kind: KindDMARC, Name: "_dmarc." + domain, RR: txt("_dmarc."+domain, dmarc), Note: dmarcNote})

	policy := STSPolicy(cfg)
	recs = append(recs,
		Record{Kind: KindMTASTS, Name: "_mta-sts." + domain, RR: txt("_mta-sts."+domain, "v=STSv1; id="+policy.TextID()),
			Note: fmt.Sprintf("MTA-STS (RFC 8461), mode %s; the id changes with the policy, served at https://mta-sts.%s/.well-known/mta-sts.txt.", policy.Mode, domain)},
		alias("mta-sts."+domain, host, "The MTA-STS policy host; its certificate must be valid for this name."),
		Record{Kind: KindTLSRPT, Name: "_smtp._tls." + domain, RR: txt("_smtp._tls."+domain, "v=TLSRPTv1; rua="+TLSRPTURI(cfg, domain)),
			Note: "TLS-RPT (RFC 8460): senders report TLS failures to this server."},
	)
	const srvNote = "Client setup (RFC 6186, RFC 8314 section 5.1, RFC 8620 section 2.2): implicit TLS first; target \".\" means not offered."
	for _, ep := range eps {
		if ep.Kind == HTTPS {
			continue
		}
		recs = append(recs, srv("_"+ep.Service+"._tcp."+domain, ep, srvNote))
	}
	https, _ := Preferred(eps, HTTPS)
	recs = append(recs,
		srv("_jmap._tcp."+domain, https, srvNote),
		srv("_autodiscover._tcp."+domain, https, srvNote),
		alias("autoconfig."+domain, host, "Thunderbird autoconfig and Outlook autodiscover hosts."),
		alias("autodiscover."+domain, host, "Thunderbird autoconfig and Outlook autodiscover hosts."),
	)
	return recs
}

func hdr(name string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: dns.Fqdn(name), Rrtype: rrtype, Class: dns.ClassINET, Ttl: TTL}
}

// txt returns a TXT record of text, cut into character-strings of at
// most 255 octets (RFC 1035 section 3.3.14); receivers join them (RFC
// 6376 section 3.6.2.2, RFC 7208 section 3.3).
func txt(name, text string) *dns.TXT {
	var parts []string
	for len(text) > 255 {
		parts = append(parts, text[:255])
		text = text[255:]
	}
	return &dns.TXT{Hdr: hdr(name, dns.TypeTXT), Txt: append(parts, text)}
}

func alias(name, host, note string) Record {
	return Record{Kind: KindAlias, Name: name, RR: &dns.CNAME{Hdr: hdr(name, dns.TypeCNAME), Target: dns.Fqdn(host)}, Note: note}
}

// srv returns the SRV record of an endpoint: priority 0 for implicit TLS,
// 10 for STARTTLS, which clients compare across both services (RFC 6186
// section 3.4, RFC 8314 section 5.1); target "." for a disabled one.
func srv(name string, ep Endpoint, note string) Record {
	rr := &dns.SRV{Hdr: hdr(name, dns.TypeSRV), Target: "."}
	if ep.Host != "" {
		rr.Target, rr.Port, rr.Weight = dns.Fqdn(ep.Host), uint16(ep.Port), 1
		if !ep.TLS {
			rr.Priority = 10
		}
	}
	return Record{Kind: KindSRV, Name: name, RR: rr, Note: note}
}

// Zone returns the records as zone file lines, each group after a comment
// saying what it is for; the host's addresses, which only the operator
// knows, as a comment.
func Zone(recs []Record) string {
	var b strings.Builder
	note := ""
	for _, r := range recs {
		if r.Note != note {
			if note != "" {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "; %s\n", r.Note)
			note = r.Note
		}
		if r.RR == nil {
			fmt.Fprintf(&b, "; %s.\t%d\tIN\tA\t<public IPv4 address>\n; %s.\t%d\tIN\tAAAA\t<public IPv6 address>\n", r.Name, TTL, r.Name, TTL)
			continue
		}
		fmt.Fprintln(&b, r.RR.String())
	}
	return b.String()
}
