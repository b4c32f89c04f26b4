package server

import (
	"casella/internal/delivery"
	"casella/internal/directory"
)

// filters assembles what the delivery runs Sieve scripts with: the
// accounts' scripts and records in the directory, the administrator's
// script from the configuration, and the failure counter of /metrics.
func (s *Server) filters(scripts directory.SieveScripts) (*delivery.Filters, error) {
	f := &delivery.Filters{Scripts: scripts, Logger: s.log.With("component", "sieve"), Failed: s.metrics.sieveFailed.Inc}
	f.Memory, _ = s.dir.(directory.SieveMemory)
	if path := s.cfg.ManageSieve.GlobalScript; path != "" {
		g, err := delivery.LoadGlobal(path)
		if err != nil {
			return nil, err
		}
		f.Global = g
	}
	return f, nil
}
