package server

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/acme/autocert"

	"casella/internal/config"
	"casella/internal/directory"
	"casella/internal/tlsconf"
	"casella/internal/web"
)

// ACMEDir keeps the ACME account key and the certificates obtained, each
// with its key, when the directory is not PostgreSQL (ACMECache).
const ACMEDir = "acme"

// ACMECache is where the ACME manager keeps its keys, certificates and
// challenge answers: in a PostgreSQL directory, which every node of a
// cluster shares, so that one node's certificate serves all and any node
// answers a validation; otherwise in DATA/acme, whose files only the
// server reads (a SQLite directory's file is not kept as private).
func ACMECache(cfg config.Config, dir directory.Directory) (autocert.Cache, error) {
	dsn := cfg.Directory.Store
	if dsn == "" {
		dsn = "sqlite:" + DirectoryFile
	}
	if kind, _ := config.StoreKind(dsn, cfg.DataDir); kind == config.Postgres {
		if cc, ok := dir.(directory.CertCaches); ok {
			return cc.CertCache(), nil
		}
	}
	return tlsconf.NewFileCache(filepath.Join(cfg.DataDir, ACMEDir))
}

// acmeMetrics count certificates obtained and failed attempts, and show
// each certificate's expiry.
type acmeMetrics struct {
	orders *prometheus.CounterVec
	expiry *prometheus.GaugeVec
}

func newACMEMetrics(reg *prometheus.Registry) *acmeMetrics {
	m := &acmeMetrics{
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casella_acme_certificates_total",
			Help: "Certificates asked of the ACME CA, by result (issued, failed); failures are retried with backoff.",
		}, []string{"result"}),
		expiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "casella_acme_certificate_expiry_timestamp_seconds",
			Help: "When the ACME certificate served for a name expires, in Unix seconds.",
		}, []string{"name"}),
	}
	reg.MustRegister(m.orders, m.expiry)
	return m
}

// openACME makes the ACME manager and puts it in front of the listeners'
// certificate, which stays the fallback for names without one yet.
func (s *Server) openACME(ctx context.Context) error {
	m := newACMEMetrics(s.metrics.registry)
	cache, err := ACMECache(s.cfg, s.dir)
	if err != nil {
		return err
	}
	a, err := tlsconf.NewACME(s.acmeOptions(m, cache))
	if err != nil {
		return fmt.Errorf("ACME: %w; check [acme] in the configuration", err)
	}
	// The kept certificates are served from the first handshake; what
	// cannot be read now is read again by every round.
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := a.Load(lctx); err != nil {
		s.log.Warn("ACME: kept certificates not loaded; the [tls] certificate is served for those names until they are", "err", err)
	}
	s.acme = a
	s.tlsConfig.GetCertificate = a.GetCertificate
	s.tlsConfig.GetConfigForClient = a.GetConfigForClient
	return nil
}

// acmeOptions turns [acme] into the manager's options.
func (s *Server) acmeOptions(m *acmeMetrics, cache autocert.Cache) tlsconf.ACMEOptions {
	c := s.cfg.ACME
	return tlsconf.ACMEOptions{
		DirectoryURL: c.DirectoryURL,
		Email:        c.Email,
		Challenge:    c.Challenge,
		CAFile:       c.CAFile,
		Cache:        cache,
		Names:        func(ctx context.Context) ([]string, error) { return ACMENames(ctx, s.cfg, s.dir) },
		Log:          s.log.With("component", "acme"),
		OnIssued:     func(string) { m.orders.WithLabelValues("issued").Inc() },
		OnFailed:     func(string) { m.orders.WithLabelValues("failed").Inc() },
		OnServed: func(name string, notAfter time.Time) {
			m.expiry.WithLabelValues(name).Set(float64(notAfter.Unix()))
		},
	}
}

// ACMENames are the names that get certificates: the hostname, the
// acme.domain_hosts of every local domain (where MTA-STS senders and
// autoconfiguring clients connect) and acme.names, sorted.
func ACMENames(ctx context.Context, cfg config.Config, dir directory.Directory) ([]string, error) {
	names := []string{strings.ToLower(cfg.Hostname)}
	domains, err := dir.Domains(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the local domains: %w", err)
	}
	for _, d := range domains {
		for _, h := range cfg.ACME.DomainHosts {
			names = append(names, strings.ToLower(h+"."+d.Name))
		}
	}
	for _, n := range cfg.ACME.Names {
		names = append(names, strings.ToLower(n))
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// certificates lists the ACME certificates for /api/status.
func (s *Server) certificates() []web.Certificate {
	var out []web.Certificate
	for _, st := range s.acme.Statuses() {
		c := web.Certificate{Name: st.Name, NotAfter: st.NotAfter, Retry: st.Retry}
		if st.Err != nil {
			c.Error = st.Err.Error()
		}
		out = append(out, c)
	}
	return out
}
