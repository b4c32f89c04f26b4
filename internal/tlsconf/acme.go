package tlsconf

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	mathrand "math/rand/v2"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"casella/internal/backoff"
)

// The challenges ACME can prove control of a name with.
const (
	TLSALPN01 = "tls-alpn-01" // RFC 8737, answered in the TLS handshake
	HTTP01    = "http-01"     // RFC 8555 section 8.3, answered over plain HTTP
)

const (
	// checkEvery is the longest the loop sleeps: new local domains get
	// their certificates within it. Each round reads every name's
	// certificate from the cache: 3000 names cost 5 reads a second.
	checkEvery = 10 * time.Minute
	// retryMin and retryMax space out the attempts for a name that
	// failed. Let's Encrypt allows 5 failed validations per name and
	// hour; starting at 5 minutes stays under it.
	retryMin = 5 * time.Minute
	retryMax = 6 * time.Hour
	// orderTimeout bounds one certificate's whole exchange with the CA.
	orderTimeout = 5 * time.Minute
	// lookupTimeout bounds a validation's read of the cache.
	lookupTimeout = 5 * time.Second
	// claimSettle is how long a claim to order a name waits for another
	// node's concurrent claim to overwrite it; claimRecheck how soon a
	// node that lost looks for the winner's certificate.
	claimSettle  = time.Second
	claimRecheck = 30 * time.Second
)

// ACMEOptions configure an ACME manager.
type ACMEOptions struct {
	DirectoryURL string
	Email        string // the account's contact; "" for none
	Challenge    string // TLSALPN01 or HTTP01
	// CAFile is a PEM file of roots for the CA's own HTTPS; "" trusts
	// the system's.
	CAFile string
	// Cache keeps the account key, the certificates with their keys and
	// the answers to pending challenges: FileCache on one node, the
	// directory's database in a cluster (directory.CertCaches).
	Cache autocert.Cache
	// Names returns the names that should have a certificate; it is
	// asked at every round, so new local domains get theirs.
	Names func(ctx context.Context) ([]string, error)
	Log   *slog.Logger
	// OnIssued and OnFailed are told of every certificate obtained and
	// every failed attempt, OnServed of every change of the certificate
	// served for a name (obtained, loaded, or adopted from another node),
	// for metrics.
	OnIssued func(name string)
	OnFailed func(name string)
	OnServed func(name string, notAfter time.Time)
}

// ACME obtains certificates from an ACME CA (RFC 8555) and renews them
// when a third of their lifetime is left. Its GetCertificate and
// GetConfigForClient go into the listeners' tls.Config; names it has no
// certificate for fall back to the configuration's own certificate.
//
// Implementation notes:
//   - One certificate per name: a name whose DNS does not point here
//     fails alone, and the others are still issued.
//   - Everything is kept in the Cache: NAME.pem (the key and chain),
//     account.key, and while a challenge is pending NAME.tls-alpn-01 or
//     TOKEN.http-01, so that in a cluster sharing the cache whichever node
//     the CA's validation reaches answers it. Each round reads the
//     certificates back first: a certificate another node obtained is
//     adopted, not ordered again. NAME.order claims a name while one node
//     orders it (claim). A restart serves the certificates (Load) without
//     asking the CA.
//   - Failures are retried with backoff and logged; the listeners keep
//     serving the previous certificate, or the fallback one.
type ACME struct {
	opts   ACMEOptions
	client *acme.Client

	mu     sync.RWMutex
	certs  map[string]*tls.Certificate
	alpn   map[string]*tls.Certificate // tls-alpn-01 answers, by name
	tokens map[string]string           // http-01 key authorizations, by token
	fails  map[string]failure
	// registered is set once the account exists at the CA.
	registered bool
	// spread, from 0 to 1, delays this manager's renewals by up to a
	// tenth of a certificate's life.
	spread float64
	// id tells this manager's claims (claim) from other nodes'.
	id string
}

// failure is a name's run of failed attempts.
type failure struct {
	attempts int
	retry    time.Time
	err      error
}

// NewACME makes a manager. It asks neither the cache nor the CA: Load and
// Run do.
func NewACME(opts ACMEOptions) (*ACME, error) {
	if opts.Challenge != TLSALPN01 && opts.Challenge != HTTP01 {
		return nil, fmt.Errorf("acme: unknown challenge %q; use %s or %s", opts.Challenge, TLSALPN01, HTTP01)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	hc := http.DefaultClient
	if opts.CAFile != "" {
		pemRoots, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("acme: reading ca_file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pemRoots) {
			return nil, fmt.Errorf("acme: ca_file %s holds no PEM certificate", opts.CAFile)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		hc = &http.Client{Transport: tr}
	}
	return &ACME{
		opts:   opts,
		client: &acme.Client{DirectoryURL: opts.DirectoryURL, HTTPClient: hc, UserAgent: "casella"},
		certs:  map[string]*tls.Certificate{},
		alpn:   map[string]*tls.Certificate{},
		tokens: map[string]string{},
		fails:  map[string]failure{},
		spread: mathrand.Float64(),
		id:     strconv.FormatUint(mathrand.Uint64(), 36),
	}, nil
}

// accountKeyName is the account key's name in the cache.
const accountKeyName = "account.key"

// accountKey reads the account's key from the cache, or makes it on
// first use. In a cluster two nodes starting together may both make one;
// the last written wins, and the other's account stays valid at the CA.
func (a *ACME) accountKey(ctx context.Context) (crypto.Signer, error) {
	data, err := a.opts.Cache.Get(ctx, accountKeyName)
	if errors.Is(err, autocert.ErrCacheMiss) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating the account key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("encoding the account key: %w", err)
		}
		if err := a.opts.Cache.Put(ctx, accountKeyName, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
			return nil, fmt.Errorf("keeping the account key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the account key: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("%s holds no PEM key; remove it to register a new account", accountKeyName)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; remove it to register a new account", accountKeyName, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s is not a signing key", accountKeyName)
	}
	return signer, nil
}

// Load reads the certificates of the current names from the cache, so
// that a restart serves them before Run's first round. A failure is
// returned after loading what could be.
func (a *ACME) Load(ctx context.Context) error {
	names, err := a.opts.Names(ctx)
	if err != nil {
		return fmt.Errorf("acme: %w", err)
	}
	var errs []error
	for _, name := range names {
		if err := a.refresh(ctx, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// refresh adopts the cached certificate of name when it lasts longer than
// the one in memory: after a restart, or when another node renewed it.
func (a *ACME) refresh(ctx context.Context, name string) error {
	cert, err := Kept(ctx, a.opts.Cache, name)
	if cert == nil {
		return err
	}
	a.mu.Lock()
	old := a.certs[name]
	newer := old == nil || cert.Leaf.NotAfter.After(old.Leaf.NotAfter)
	if newer {
		a.certs[name] = cert
	}
	a.mu.Unlock()
	if newer && a.opts.OnServed != nil {
		a.opts.OnServed(name, cert.Leaf.NotAfter)
	}
	return nil
}

// Kept returns the certificate of name kept in cache, or nil without one.
func Kept(ctx context.Context, cache autocert.Cache, name string) (*tls.Certificate, error) {
	data, err := cache.Get(ctx, name+".pem")
	if errors.Is(err, autocert.ErrCacheMiss) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("acme: reading the certificate of %s: %w", name, err)
	}
	cert, err := tls.X509KeyPair(data, data)
	if err != nil {
		return nil, fmt.Errorf("acme: the kept certificate of %s: %w; it is obtained again", name, err)
	}
	return &cert, nil
}

// GetCertificate returns the certificate for the name the client asks
// for (SNI), or nil so that crypto/tls falls back to the configuration's
// Certificates.
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.certs[strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))], nil
}

// GetConfigForClient answers a tls-alpn-01 validation (RFC 8737 section
// 3): a handshake offering only the acme-tls/1 protocol gets the
// challenge's certificate. Other handshakes get nil, the listener's own
// configuration.
func (a *ACME) GetConfigForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	if len(hello.SupportedProtos) != 1 || hello.SupportedProtos[0] != acme.ALPNProto {
		return nil, nil
	}
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	a.mu.RLock()
	cert := a.alpn[name]
	a.mu.RUnlock()
	if cert == nil && name != "" && !strings.ContainsAny(name, "/\\") {
		if data := a.shared(name + "." + TLSALPN01); data != nil {
			if c, err := tls.X509KeyPair(data, data); err == nil {
				cert = &c
			}
		}
	}
	if cert == nil {
		a.opts.Log.Info("acme: refused a tls-alpn-01 validation for a name with no challenge pending", "name", name, "remote", hello.Conn.RemoteAddr())
		return nil, fmt.Errorf("acme: no tls-alpn-01 challenge pending for %q", name)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}, NextProtos: []string{acme.ALPNProto}}, nil
}

// HTTPHandler answers http-01 validations (RFC 8555 section 8.3) under
// /.well-known/acme-challenge/ and passes other requests to next.
func (a *ACME) HTTPHandler(next http.Handler) http.Handler {
	const prefix = "/.well-known/acme-challenge/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		a.mu.RLock()
		answer, ok := a.tokens[token]
		a.mu.RUnlock()
		if !ok && token != "" && !strings.ContainsAny(token, "/\\.") {
			if data := a.shared(token + "." + HTTP01); data != nil {
				answer, ok = string(data), true
			}
		}
		if !ok {
			a.opts.Log.Info("acme: refused an http-01 validation for an unknown token", "host", r.Host, "remote", r.RemoteAddr)
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(answer))
	})
}

// Status is one name's certificate.
type Status struct {
	Name     string
	NotAfter time.Time // zero without a certificate
	Issuer   string
	Err      error     // the last attempt's failure, if the name has one pending
	Retry    time.Time // when a failed name is tried again
}

// Statuses returns the names with a certificate or a failure, sorted.
func (a *ACME) Statuses() []Status {
	a.mu.RLock()
	defer a.mu.RUnlock()
	byName := map[string]*Status{}
	for name, c := range a.certs {
		byName[name] = &Status{Name: name, NotAfter: c.Leaf.NotAfter, Issuer: c.Leaf.Issuer.CommonName}
	}
	for name, f := range a.fails {
		s := byName[name]
		if s == nil {
			s = &Status{Name: name}
			byName[name] = s
		}
		s.Err, s.Retry = f.err, f.retry
	}
	out := make([]Status, 0, len(byName))
	for _, s := range byName {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(x, y Status) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// Run obtains missing certificates and renews those due until ctx is
// done.
func (a *ACME) Run(ctx context.Context) {
	for {
		wait := a.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// round does what is due for every name and returns how long to sleep
// before the next round.
func (a *ACME) round(ctx context.Context) time.Duration {
	names, err := a.opts.Names(ctx)
	if err != nil {
		a.opts.Log.Warn("acme: cannot list the names that need certificates; trying again", "err", err, "retry", retryMin)
		return retryMin
	}
	next := checkEvery
	for _, name := range names {
		if ctx.Err() != nil {
			return 0
		}
		if err := a.refresh(ctx, name); err != nil {
			a.opts.Log.Warn("acme: the cache cannot be read; the certificate in memory is kept", "name", name, "err", err)
		}
		at := a.due(name)
		if wait := time.Until(at); wait > 0 {
			next = min(next, wait)
			continue
		}
		held, wait := a.claim(ctx, name)
		if !held {
			next = min(next, wait)
			continue
		}
		octx, cancel := context.WithTimeout(ctx, orderTimeout)
		cert, err := a.obtain(octx, name)
		cancel()
		if ctx.Err() != nil {
			a.forget(name + ".order")
			return 0
		}
		if err != nil {
			var after time.Duration
			var ae *acme.Error
			if errors.As(err, &ae) {
				if ae.ProblemType == "urn:ietf:params:acme:error:accountDoesNotExist" {
					// The CA forgot the account (RFC 8555 section
					// 7.3.1): register it again at the next attempt.
					a.mu.Lock()
					a.registered = false
					a.mu.Unlock()
				}
				after, _ = acme.RateLimit(ae)
			}
			wait := a.failed(name, err, after)
			// The claim stays until the retry, so that the other nodes
			// do not spend the CA's failed validations meanwhile.
			a.holdClaim(ctx, name, time.Now().Add(wait))
			var unreachable *url.Error
			if after > 0 || errors.As(err, &unreachable) {
				// A limit of the account (RFC 8555 section 6.6), or a
				// CA that cannot be reached, would refuse the other
				// names too: they wait with this one.
				return wait
			}
			next = min(next, wait)
			continue
		}
		a.forget(name + ".order")
		a.mu.Lock()
		renewed := a.certs[name] != nil
		a.certs[name] = cert
		delete(a.fails, name)
		a.mu.Unlock()
		a.opts.Log.Info("acme: certificate obtained", "name", name, "renewal", renewed, "not_after", cert.Leaf.NotAfter, "issuer", cert.Leaf.Issuer.CommonName)
		if a.opts.OnIssued != nil {
			a.opts.OnIssued(name)
		}
		if a.opts.OnServed != nil {
			a.opts.OnServed(name, cert.Leaf.NotAfter)
		}
		next = min(next, time.Until(RenewAt(cert.Leaf)))
	}
	return max(next, time.Second)
}

// due returns when name next needs work: now without a certificate,
// when a third of its certificate's lifetime is left (up to a tenth of
// it later, by the manager's spread), or the retry time of a failure.
func (a *ACME) due(name string) time.Time {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var at time.Time
	if c := a.certs[name]; c != nil {
		// Nodes sharing a cache renew at different times, so that the
		// first one's certificate is adopted by the others.
		life := c.Leaf.NotAfter.Sub(c.Leaf.NotBefore)
		at = RenewAt(c.Leaf).Add(time.Duration(a.spread * float64(life/10)))
	}
	if f, ok := a.fails[name]; ok && f.retry.After(at) {
		at = f.retry
	}
	return at
}

// RenewAt is when a third of the certificate's lifetime is left, as Let's
// Encrypt advises: 30 days of a 90-day certificate, 2 of a 6-day one.
func RenewAt(leaf *x509.Certificate) time.Time {
	return leaf.NotAfter.Add(-leaf.NotAfter.Sub(leaf.NotBefore) / 3)
}

// failed records a failed attempt and returns the wait before the next:
// the backoff, or the CA's Retry-After when that is longer.
func (a *ACME) failed(name string, err error, retryAfter time.Duration) time.Duration {
	a.mu.Lock()
	f := a.fails[name]
	f.attempts++
	wait := max(backoff.Delay(f.attempts, retryMin, retryMax), retryAfter)
	f.retry, f.err = time.Now().Add(wait), err
	a.fails[name] = f
	kept := a.certs[name] != nil
	a.mu.Unlock()
	a.opts.Log.Warn("acme: obtaining a certificate failed; the current one is kept", "name", name, "err", err, "attempts", f.attempts, "retry_in", wait.Round(time.Second), "has_certificate", kept)
	if a.opts.OnFailed != nil {
		a.opts.OnFailed(name)
	}
	return wait
}

// register makes sure the account exists at the CA (RFC 8555 section
// 7.3); an account already registered with the key is fine.
func (a *ACME) register(ctx context.Context) error {
	a.mu.RLock()
	done := a.registered
	a.mu.RUnlock()
	if done {
		return nil
	}
	if a.client.Key == nil {
		key, err := a.accountKey(ctx)
		if err != nil {
			return err
		}
		a.client.Key = key
	}
	acct := &acme.Account{}
	if a.opts.Email != "" {
		acct.Contact = []string{"mailto:" + a.opts.Email}
	}
	if _, err := a.client.Register(ctx, acct, acme.AcceptTOS); err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return fmt.Errorf("registering the account: %w", err)
	}
	a.mu.Lock()
	a.registered = true
	a.mu.Unlock()
	return nil
}

// obtain runs one order for name (RFC 8555 section 7.4) and keeps the
// certificate.
func (a *ACME) obtain(ctx context.Context, name string) (*tls.Certificate, error) {
	// The name becomes a key of the cache, a file name in FileCache.
	if name == "" || strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("%q is not a host name", name)
	}
	if err := a.register(ctx); err != nil {
		return nil, err
	}
	order, err := a.client.AuthorizeOrder(ctx, acme.DomainIDs(name))
	if err != nil {
		return nil, fmt.Errorf("creating the order: %w", err)
	}
	for _, u := range order.AuthzURLs {
		if err := a.authorize(ctx, name, u); err != nil {
			return nil, err
		}
	}
	// The order as created keeps its finalize URL; Pebble's answers to
	// polling it leave that out.
	if _, err := a.client.WaitOrder(ctx, order.URI); err != nil {
		return nil, fmt.Errorf("waiting for the order: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}}, key)
	if err != nil {
		return nil, fmt.Errorf("making the request: %w", err)
	}
	chain, _, err := a.client.CreateOrderCert(ctx, order.FinalizeURL, csr, true)
	if err != nil {
		// A CA that finalizes asynchronously (Pebble) answers
		// "processing" without a Location header, which RFC 8555
		// section 7.4 requires only of the order's creation, and the
		// client then polls an empty URL: poll the order's own.
		done, werr := a.client.WaitOrder(ctx, order.URI)
		if werr != nil || done.CertURL == "" {
			return nil, fmt.Errorf("finalizing the order: %w", err)
		}
		if chain, err = a.client.FetchCert(ctx, done.CertURL, true); err != nil {
			return nil, fmt.Errorf("fetching the certificate: %w", err)
		}
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	for _, der := range chain {
		data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	cert, err := tls.X509KeyPair(data, data)
	if err != nil {
		return nil, fmt.Errorf("the CA's certificate: %w", err)
	}
	if err := cert.Leaf.VerifyHostname(name); err != nil {
		return nil, fmt.Errorf("the CA's certificate: %w", err)
	}
	if err := a.opts.Cache.Put(ctx, name+".pem", data); err != nil {
		// Served from memory all the same; a restart orders it again.
		a.opts.Log.Warn("acme: the certificate cannot be kept in the cache", "name", name, "err", err)
	}
	return &cert, nil
}

// authorize proves control of name for one authorization with the
// configured challenge.
func (a *ACME) authorize(ctx context.Context, name, url string) error {
	z, err := a.client.GetAuthorization(ctx, url)
	if err != nil {
		return fmt.Errorf("fetching the authorization: %w", err)
	}
	if z.Status == acme.StatusValid {
		return nil
	}
	var chal *acme.Challenge
	for _, c := range z.Challenges {
		if c.Type == a.opts.Challenge {
			chal = c
		}
	}
	if chal == nil {
		return fmt.Errorf("the CA offers no %s challenge for %s", a.opts.Challenge, name)
	}
	switch chal.Type {
	case TLSALPN01:
		cert, err := a.client.TLSALPN01ChallengeCert(chal.Token, name)
		if err != nil {
			return fmt.Errorf("making the tls-alpn-01 certificate: %w", err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
		if err != nil {
			return fmt.Errorf("encoding the tls-alpn-01 key: %w", err)
		}
		data := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})...)
		key := name + "." + TLSALPN01
		if err := a.opts.Cache.Put(ctx, key, data); err != nil {
			return fmt.Errorf("sharing the tls-alpn-01 answer: %w", err)
		}
		a.mu.Lock()
		a.alpn[name] = &cert
		a.mu.Unlock()
		defer func() {
			a.mu.Lock()
			delete(a.alpn, name)
			a.mu.Unlock()
			a.forget(key)
		}()
	case HTTP01:
		answer, err := a.client.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			return fmt.Errorf("making the http-01 answer: %w", err)
		}
		key := chal.Token + "." + HTTP01
		if err := a.opts.Cache.Put(ctx, key, []byte(answer)); err != nil {
			return fmt.Errorf("sharing the http-01 answer: %w", err)
		}
		a.mu.Lock()
		a.tokens[chal.Token] = answer
		a.mu.Unlock()
		defer func() {
			a.mu.Lock()
			delete(a.tokens, chal.Token)
			a.mu.Unlock()
			a.forget(key)
		}()
	}
	if _, err := a.client.Accept(ctx, chal); err != nil {
		return fmt.Errorf("accepting the %s challenge: %w", chal.Type, err)
	}
	if _, err := a.client.WaitAuthorization(ctx, z.URI); err != nil {
		return fmt.Errorf("validating %s with %s: %w", name, chal.Type, err)
	}
	return nil
}

// claim makes this manager the one that orders name now, among those
// sharing the cache: it writes its claim unless another's holds, waits
// for a concurrent writer to overwrite it, and reads it back. When held
// is false, wait says when to look again; by then the certificate the
// other manager obtained is in the cache.
func (a *ACME) claim(ctx context.Context, name string) (held bool, wait time.Duration) {
	key := name + ".order"
	now := time.Now()
	data, err := a.opts.Cache.Get(ctx, key)
	switch {
	case errors.Is(err, autocert.ErrCacheMiss):
	case err != nil:
		a.opts.Log.Warn("acme: the cache cannot be read; not ordering", "name", name, "err", err, "retry_in", retryMin)
		return false, retryMin
	default:
		var id string
		var until int64
		if _, err := fmt.Sscanf(string(data), "%s %d", &id, &until); err == nil && id != a.id && now.Before(time.Unix(until, 0)) {
			return false, min(time.Unix(until, 0).Sub(now), claimRecheck)
		}
	}
	mine := a.claimValue(now.Add(orderTimeout + time.Minute))
	if err := a.opts.Cache.Put(ctx, key, []byte(mine)); err != nil {
		a.opts.Log.Warn("acme: the cache cannot be written; not ordering", "name", name, "err", err, "retry_in", retryMin)
		return false, retryMin
	}
	select {
	case <-ctx.Done():
		return false, 0
	case <-time.After(claimSettle):
	}
	if data, err := a.opts.Cache.Get(ctx, key); err != nil || string(data) != mine {
		a.opts.Log.Info("acme: another node orders this certificate", "name", name)
		return false, claimRecheck
	}
	return true, 0
}

// claimValue is this manager's claim until the given time.
func (a *ACME) claimValue(until time.Time) string {
	return fmt.Sprintf("%s %d", a.id, until.Unix())
}

// holdClaim keeps this manager's claim on name until the given time.
func (a *ACME) holdClaim(ctx context.Context, name string, until time.Time) {
	if err := a.opts.Cache.Put(ctx, name+".order", []byte(a.claimValue(until))); err != nil {
		a.opts.Log.Warn("acme: the cache cannot be written; other nodes may try the name before its retry", "name", name, "err", err)
	}
}

// forget removes a settled claim or challenge answer from the cache.
func (a *ACME) forget(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	if err := a.opts.Cache.Delete(ctx, key); err != nil {
		a.opts.Log.Warn("acme: a settled claim or challenge answer stays in the cache", "key", key, "err", err)
	}
}

// shared returns a challenge's answer that another node sharing the cache
// put there, or nil.
func (a *ACME) shared(key string) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	data, err := a.opts.Cache.Get(ctx, key)
	if err != nil && !errors.Is(err, autocert.ErrCacheMiss) {
		a.opts.Log.Warn("acme: the cache cannot be read for a validation", "key", key, "err", err)
	}
	return data
}
