package publish

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dmarc"
	"github.com/miekg/dns"

	"casella/internal/mtasts"
	"casella/internal/resolver"
)

// Statuses of a checked record.
const (
	OK      = "ok"
	Missing = "missing"
	Wrong   = "wrong"
	Failed  = "error" // DNS did not answer: nothing is known
)

// Result is what DNS says about one record.
type Result struct {
	Record Record
	Status string
	Found  string // what DNS holds, or the error
	Why    string // for Wrong: what is the matter
}

// Checker asks DNS about records.
type Checker struct {
	Resolver *resolver.Resolver
	Hostname string // the server's name, which SRV and alias records lead to
	// STS is the MTA-STS policy served (STSPolicy). In testing or enforce
	// mode every MX the domain has must match its mx lines: a sender that
	// enforces it does not deliver to one that does not (RFC 8461
	// section 4.1), and in testing mode reports the failure.
	STS mtasts.Policy
}

// KindPolicy is the result of CheckPolicy: not a DNS record, the policy
// its MTA-STS record announces.
const KindPolicy = "policy"

// CheckPolicy fetches domain's MTA-STS policy as a sender does (f, with
// its certificate checks) and compares it with want: a policy host whose
// certificate is not valid for mta-sts.DOMAIN, the most common mistake,
// is Wrong like a policy that says something else.
func (c *Checker) CheckPolicy(ctx context.Context, f *mtasts.Fetcher, domain string, want mtasts.Policy) Result {
	res := Result{Record: Record{Kind: KindPolicy, Name: "https://mta-sts." + domain + "/.well-known/mta-sts.txt"}}
	p, err := f.Policy(ctx, domain)
	switch {
	case err != nil:
		res.Status, res.Found, res.Why = Wrong, err.Error(), "senders cannot fetch the policy"
	case p == nil:
		res.Status = Missing
	case p.Mode != want.Mode || !slices.Equal(p.MX, want.MX):
		res.Status, res.Found, res.Why = Wrong, strings.Join(p.Lines(), "; "), "another policy than this server's: "+strings.Join(want.Lines(), "; ")
	default:
		res.Status, res.Found = OK, strings.Join(p.Lines(), "; ")
	}
	return res
}

// Check checks each record.
func (c *Checker) Check(ctx context.Context, recs []Record) []Result {
	res := make([]Result, len(recs))
	for i, r := range recs {
		res[i] = c.check(ctx, r)
		res[i].Record = r
	}
	return res
}

func (c *Checker) check(ctx context.Context, r Record) Result {
	switch r.Kind {
	case KindHost:
		addrs, err := c.Resolver.Addrs(ctx, r.Name)
		if err != nil {
			return failure(err)
		}
		return Result{Status: OK, Found: join(addrs.Records)}
	case KindMX:
		return c.checkMX(ctx, r)
	case KindSPF:
		return c.checkSPF(ctx, r)
	case KindDKIM:
		return c.checkDKIM(ctx, r)
	case KindDMARC:
		return c.checkDMARC(ctx, r)
	case KindMTASTS, KindTLSRPT:
		return c.checkTagged(ctx, r)
	case KindAlias:
		return c.checkAlias(ctx, r)
	case KindSRV:
		return c.checkSRV(ctx, r)
	}
	return Result{Status: Failed, Found: "unknown kind " + r.Kind}
}

// failure is the result of a failed lookup: Missing for a record that
// does not exist, Failed for an outage.
func failure(err error) Result {
	if errors.Is(err, resolver.ErrNotFound) {
		return Result{Status: Missing}
	}
	return Result{Status: Failed, Found: err.Error()}
}

func join[T any](items []T) string {
	s := make([]string, len(items))
	for i, it := range items {
		s[i] = fmt.Sprint(it)
	}
	return strings.Join(s, ", ")
}

// checkMX checks that an MX names r's host, and that the MTA-STS policy
// covers every MX.
func (c *Checker) checkMX(ctx context.Context, r Record) Result {
	want := strings.TrimSuffix(r.RR.(*dns.MX).Mx, ".")
	mxs, err := c.Resolver.MX(ctx, r.Name)
	if err != nil {
		return failure(err)
	}
	var found, outside []string
	ok := false
	for _, mx := range mxs.Records {
		host := mx.Host
		if host == "" {
			host = "." // null MX, RFC 7505
		}
		found = append(found, fmt.Sprintf("%d %s", mx.Preference, host))
		ok = ok || strings.EqualFold(mx.Host, want)
		if (c.STS.Mode == mtasts.Testing || c.STS.Mode == mtasts.Enforce) && mx.Host != "" && !c.STS.Matches(mx.Host) {
			outside = append(outside, mx.Host)
		}
	}
	switch {
	case !ok:
		return Result{Status: Wrong, Found: strings.Join(found, ", "), Why: "no MX names " + want + ", so other servers deliver elsewhere"}
	case len(outside) > 0:
		return Result{Status: Wrong, Found: strings.Join(found, ", "),
			Why: fmt.Sprintf("the MTA-STS policy (mode %s) does not name %s, so senders that enforce it do not deliver there; add it to [smtp] mx_hosts or remove the MX", c.STS.Mode, strings.Join(outside, ", "))}
	}
	return Result{Status: OK, Found: strings.Join(found, ", ")}
}

// records returns the TXT records of name that start with version (a
// "v=" tag), matched as RFC 7208 section 4.5 and RFC 7489 section 6.6.3
// do: case-insensitively, followed by a space, a semicolon or the end.
func (c *Checker) records(ctx context.Context, name, version string) ([]string, error) {
	txts, err := c.Resolver.TXT(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range txts.Records {
		if len(t) >= len(version) && strings.EqualFold(t[:len(version)], version) &&
			(len(t) == len(version) || strings.ContainsRune(" ;", rune(t[len(version)]))) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s record at %s: %w", version, name, resolver.ErrNotFound)
	}
	return out, nil
}

// one returns the only record of name starting with version; several are
// Wrong, since receivers then ignore them all (RFC 7208 section 4.5, RFC
// 8461 section 3.1, RFC 8460 section 3).
func (c *Checker) one(ctx context.Context, name, version string) (string, *Result) {
	recs, err := c.records(ctx, name, version)
	if err != nil {
		res := failure(err)
		return "", &res
	}
	if len(recs) > 1 {
		return "", &Result{Status: Wrong, Found: strings.Join(recs, " | "), Why: "several records; receivers ignore them all, keep one"}
	}
	return recs[0], nil
}

// checkSPF evaluates the domain's SPF record for every address of the
// server, as a receiver would for a message from postmaster@DOMAIN: the
// record is right when each passes, whatever its terms.
func (c *Checker) checkSPF(ctx context.Context, r Record) Result {
	rec, res := c.one(ctx, r.Name, "v=spf1")
	if res != nil {
		return *res
	}
	addrs, err := c.Resolver.Addrs(ctx, c.Hostname)
	if err != nil {
		return Result{Status: Failed, Found: rec, Why: fmt.Sprintf("cannot evaluate: %v", err)}
	}
	for _, a := range addrs.Records {
		ip := net.IP(a.AsSlice())
		got, err := spf.CheckHostWithSender(ip, c.Hostname, "postmaster@"+r.Name,
			spf.WithContext(ctx), spf.WithResolver(resolver.Net{R: c.Resolver}))
		if got != spf.Pass {
			why := fmt.Sprintf("mail from %s (%s) gets SPF %s", c.Hostname, a, got)
			if err != nil {
				why += ": " + err.Error()
			}
			return Result{Status: Wrong, Found: rec, Why: why}
		}
	}
	return Result{Status: OK, Found: rec}
}

// tags parses a tag list ("v=DKIM1; k=rsa; p=..."), RFC 6376 section 3.2;
// the values lose their white space, which section 3.6.1 allows in p=.
func tags(rec string) map[string]string {
	m := map[string]string{}
	for _, part := range strings.Split(rec, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if _, dup := m[k]; !dup {
			m[k] = strings.Join(strings.Fields(v), "")
		}
	}
	return m
}

func (c *Checker) want(r Record) string {
	if t, ok := r.RR.(*dns.TXT); ok {
		return strings.Join(t.Txt, "")
	}
	return ""
}

// checkDKIM compares the public key: the one thing a verifier needs.
func (c *Checker) checkDKIM(ctx context.Context, r Record) Result {
	txts, err := c.Resolver.TXT(ctx, r.Name)
	if err != nil {
		return failure(err)
	}
	want := tags(c.want(r))["p"]
	for _, t := range txts.Records {
		if tags(t)["p"] == want {
			return Result{Status: OK, Found: shorten(t)}
		}
	}
	return Result{Status: Wrong, Found: shorten(strings.Join(txts.Records, " | ")), Why: "the public key is not the one on disk"}
}

// shorten cuts a long record (a DKIM key) for a one-line report.
func shorten(s string) string {
	if len(s) > 72 {
		return s[:60] + "..." + s[len(s)-9:]
	}
	return s
}

// checkDMARC accepts any valid policy: p=none, quarantine and reject are
// the operator's choice, like the reporting addresses.
func (c *Checker) checkDMARC(ctx context.Context, r Record) Result {
	rec, res := c.one(ctx, r.Name, "v=DMARC1")
	if res != nil {
		return *res
	}
	if _, err := dmarc.Parse(rec); err != nil {
		return Result{Status: Wrong, Found: rec, Why: err.Error()}
	}
	return Result{Status: OK, Found: rec}
}

// checkTagged checks the MTA-STS and TLS-RPT records: the id must be the
// current policy's (RFC 8461 section 3.1: senders fetch a policy when the
// id changes), and the report address must be among the rua's.
func (c *Checker) checkTagged(ctx context.Context, r Record) Result {
	version := "v=STSv1"
	if r.Kind == KindTLSRPT {
		version = "v=TLSRPTv1"
	}
	rec, res := c.one(ctx, r.Name, version)
	if res != nil {
		return *res
	}
	got, want := tags(rec), tags(c.want(r))
	if r.Kind == KindMTASTS {
		if got["id"] != want["id"] {
			return Result{Status: Wrong, Found: rec, Why: fmt.Sprintf("id %q is not the served policy's %q; senders keep an old policy until it changes", got["id"], want["id"])}
		}
		return Result{Status: OK, Found: rec}
	}
	if !slices.Contains(strings.Split(got["rua"], ","), want["rua"]) {
		return Result{Status: Wrong, Found: rec, Why: "rua does not name " + want["rua"]}
	}
	return Result{Status: OK, Found: rec}
}

// checkAlias accepts a CNAME to the server, or addresses of the name's
// own that are all the server's.
func (c *Checker) checkAlias(ctx context.Context, r Record) Result {
	cname, err := c.Resolver.CNAME(ctx, r.Name)
	switch {
	case err == nil && strings.EqualFold(cname.Records, c.Hostname):
		return Result{Status: OK, Found: "CNAME " + cname.Records}
	case err == nil:
		return Result{Status: Wrong, Found: "CNAME " + cname.Records, Why: "leads to another host than " + c.Hostname}
	case !errors.Is(err, resolver.ErrNotFound):
		return failure(err)
	}
	addrs, err := c.Resolver.Addrs(ctx, r.Name)
	if err != nil {
		return failure(err)
	}
	own, err := c.Resolver.Addrs(ctx, c.Hostname)
	if err != nil {
		return Result{Status: Failed, Found: join(addrs.Records), Why: fmt.Sprintf("cannot compare: %v", err)}
	}
	for _, a := range addrs.Records {
		if !slices.Contains(own.Records, a) {
			return Result{Status: Wrong, Found: join(addrs.Records), Why: fmt.Sprintf("%s is not an address of %s", a, c.Hostname)}
		}
	}
	return Result{Status: OK, Found: join(addrs.Records)}
}

func (c *Checker) checkSRV(ctx context.Context, r Record) Result {
	want := r.RR.(*dns.SRV)
	srvs, err := c.Resolver.SRV(ctx, r.Name)
	if err != nil {
		return failure(err)
	}
	var found []string
	ok := false
	for _, s := range srvs.Records {
		target := s.Target
		if target == "" {
			target = "."
		}
		found = append(found, fmt.Sprintf("%d %d %d %s", s.Priority, s.Weight, s.Port, target))
		ok = ok || strings.EqualFold(dns.Fqdn(target), want.Target) && (want.Target == "." || s.Port == want.Port)
	}
	if !ok {
		why := fmt.Sprintf("want port %d on %s", want.Port, strings.TrimSuffix(want.Target, "."))
		if want.Target == "." {
			why = "the service is not offered; want target \".\""
		}
		return Result{Status: Wrong, Found: strings.Join(found, ", "), Why: why}
	}
	return Result{Status: OK, Found: strings.Join(found, ", ")}
}
