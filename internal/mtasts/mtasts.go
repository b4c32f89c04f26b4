// Package mtasts finds and caches the MTA-STS policies of mail domains
// (RFC 8461): a domain publishes, over HTTPS, which MX hosts it uses and
// that they must be reached with TLS and a certificate valid for their
// name, so that an attacker on the path can neither strip STARTTLS nor
// redirect the mail.
package mtasts

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"casella/internal/resolver"
)

// Modes of a policy (RFC 8461 section 5).
const (
	Enforce = "enforce"
	Testing = "testing"
	None    = "none"
)

// maxPolicySize bounds the policy body (RFC 8461 section 3.3: 64 KiB).
const maxPolicySize = 64 << 10

// maxMaxAge is the longest a policy is kept (section 3.2: 31557600 s).
const maxMaxAge = 31557600 * time.Second

// Policy is a domain's MTA-STS policy.
type Policy struct {
	ID      string // of the TXT record that announced it
	Mode    string
	MX      []string // host patterns; "*.example.com" matches one label
	MaxAge  time.Duration
	Fetched time.Time
}

// Parse parses a policy body (RFC 8461 section 3.2).
func Parse(body string) (Policy, error) {
	var p Policy
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			return Policy{}, fmt.Errorf("mta-sts: line %q is not key: value", line)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if key != "mx" && seen[key] {
			continue // section 3.2: only the first instance counts
		}
		seen[key] = true
		switch key {
		case "version":
			if value != "STSv1" {
				return Policy{}, fmt.Errorf("mta-sts: version %q, want STSv1", value)
			}
		case "mode":
			if value != Enforce && value != Testing && value != None {
				return Policy{}, fmt.Errorf("mta-sts: mode %q", value)
			}
			p.Mode = value
		case "max_age":
			n, err := strconv.ParseUint(value, 10, 64)
			if err != nil || len(value) > 10 {
				return Policy{}, fmt.Errorf("mta-sts: max_age %q", value)
			}
			p.MaxAge = maxMaxAge
			if n < uint64(maxMaxAge/time.Second) {
				p.MaxAge = time.Duration(n) * time.Second
			}
		case "mx":
			if value == "" || strings.ContainsAny(value, " \t") {
				return Policy{}, fmt.Errorf("mta-sts: mx %q", value)
			}
			p.MX = append(p.MX, strings.ToLower(strings.TrimSuffix(value, ".")))
		}
	}
	if !seen["version"] || p.Mode == "" || !seen["max_age"] {
		return Policy{}, errors.New("mta-sts: policy lacks version, mode or max_age")
	}
	if p.Mode != None && len(p.MX) == 0 {
		return Policy{}, errors.New("mta-sts: policy names no mx")
	}
	return p, nil
}

// Lines returns the policy as its text's lines, for TLS reports (RFC 8460
// section 4.4, policy-string).
func (p Policy) Lines() []string {
	lines := []string{"version: STSv1", "mode: " + p.Mode}
	for _, mx := range p.MX {
		lines = append(lines, "mx: "+mx)
	}
	return append(lines, fmt.Sprintf("max_age: %d", int64(p.MaxAge/time.Second)))
}

// Text returns the policy as a policy host serves it: its lines, each
// ending in CRLF (RFC 8461 section 3.2).
func (p Policy) Text() string {
	return strings.Join(p.Lines(), "\r\n") + "\r\n"
}

// TextID returns an id for the policy's TXT record made from its text, so
// that it changes exactly when the policy does, as senders notice a new
// policy by a new id (section 3.1: 1 to 32 letters and digits).
func (p Policy) TextID() string {
	sum := sha256.Sum256([]byte(p.Text()))
	return hex.EncodeToString(sum[:10])
}

// Matches reports whether the MX host is one the policy allows (RFC 8461
// section 4.1).
func (p Policy) Matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			if label, parent, ok := strings.Cut(host, "."); ok && label != "" && parent == rest {
				return true
			}
		} else if host == pat {
			return true
		}
	}
	return false
}

// Fetcher finds policies and keeps them for their max_age. It is safe for
// concurrent use.
type Fetcher struct {
	Resolver *resolver.Resolver
	// RootCAs verify policy hosts' certificates; nil means the system's.
	RootCAs *x509.CertPool
	// Port is the HTTPS port of policy hosts; "" means 443.
	Port string

	mu     sync.Mutex
	cache  map[string]Policy
	once   sync.Once
	client *http.Client
}

// Policy returns domain's policy, or nil when it has none. A policy in
// the cache is used while the domain's TXT record announces the same id,
// and also when the record or a new policy cannot be fetched (section
// 5.1), until its max_age runs out.
func (f *Fetcher) Policy(ctx context.Context, domain string) (*Policy, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	now := time.Now()
	f.mu.Lock()
	cached, ok := f.cache[domain]
	f.mu.Unlock()
	if ok && now.Sub(cached.Fetched) >= cached.MaxAge {
		ok = false
	}

	id, err := f.announced(ctx, domain)
	switch {
	case errors.Is(err, resolver.ErrNotFound) && !ok:
		return nil, nil
	case err != nil || id == cached.ID && ok:
		if ok {
			return &cached, nil
		}
		return nil, err
	}
	p, err := f.fetch(ctx, domain)
	if err != nil {
		if ok {
			return &cached, nil
		}
		// Section 5: a domain whose policy cannot be fetched and which has
		// none cached is treated as having none.
		return nil, err
	}
	p.ID, p.Fetched = id, now
	f.mu.Lock()
	if f.cache == nil {
		f.cache = map[string]Policy{}
	}
	f.cache[domain] = p
	f.mu.Unlock()
	return &p, nil
}

// announced returns the id of domain's _mta-sts TXT record (section 3.1).
func (f *Fetcher) announced(ctx context.Context, domain string) (string, error) {
	res, err := f.Resolver.TXT(ctx, "_mta-sts."+domain)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, txt := range res.Records {
		if !strings.HasPrefix(txt, "v=STSv1;") && txt != "v=STSv1" {
			continue
		}
		for _, field := range strings.Split(txt, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(field), "id="); ok {
				ids = append(ids, v)
			}
		}
	}
	// Section 3.1: several records, or none, is no policy.
	if len(ids) != 1 || ids[0] == "" {
		return "", fmt.Errorf("_mta-sts.%s: %w", domain, resolver.ErrNotFound)
	}
	return ids[0], nil
}

func (f *Fetcher) fetch(ctx context.Context, domain string) (Policy, error) {
	url := "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Policy{}, err
	}
	f.once.Do(f.newClient)
	resp, err := f.client.Do(req)
	if err != nil {
		return Policy{}, fmt.Errorf("mta-sts: fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Policy{}, fmt.Errorf("mta-sts: %s answered %s", url, resp.Status)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/plain" {
		return Policy{}, fmt.Errorf("mta-sts: %s is %q, not text/plain", url, mt)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPolicySize+1))
	if err != nil {
		return Policy{}, fmt.Errorf("mta-sts: reading %s: %w", url, err)
	}
	if len(body) > maxPolicySize {
		return Policy{}, fmt.Errorf("mta-sts: %s is larger than 64 KiB", url)
	}
	return Parse(string(body))
}

// newClient makes the client that fetches policies: it resolves through
// Resolver and follows no redirect (section 3.3).
func (f *Fetcher) newClient() {
	port := f.Port
	if port == "" {
		port = "443"
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		res, err := f.Resolver.Addrs(ctx, host)
		if err != nil {
			return nil, err
		}
		var d net.Dialer
		var last error
		for _, a := range res.Records {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return c, nil
			}
			last = err
		}
		return nil, last
	}
	f.client = &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{
			DialContext:         dial,
			TLSClientConfig:     &tls.Config{RootCAs: f.RootCAs, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout: 20 * time.Second,
			MaxIdleConns:        16,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
