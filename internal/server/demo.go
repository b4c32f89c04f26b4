package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"
)

// Demo domain and account made at the first start of an empty server, so a
// newcomer can send and read a message within a minute.
const (
	DemoDomain  = "example.test"
	DemoAccount = "demo@example.test"
)

// makeDemo creates the demo domain and account when the directory is empty
// and the configuration asks for it. The password is printed once, so
// Start calls it last, once nothing else can fail.
func (s *Server) makeDemo() error {
	if !s.cfg.Demo.Enabled {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	domains, err := s.dir.Domains(ctx)
	if err != nil {
		return fmt.Errorf("reading the directory: %w", err)
	}
	if len(domains) > 0 {
		return nil
	}
	if _, err := s.dir.AddDomain(ctx, DemoDomain); err != nil {
		return fmt.Errorf("creating the demo domain: %w", err)
	}
	password := rand.Text()[:16]
	cell := ""
	if s.cfg.Cluster() {
		counts, err := s.dir.CellCounts(ctx)
		if err != nil {
			return fmt.Errorf("counting accounts per cell: %w", err)
		}
		cell = s.cells.ForNewAccount(counts)
	}
	acct, err := s.dir.AddAccount(ctx, DemoAccount, password, 0, cell)
	if err != nil {
		return fmt.Errorf("creating the demo account: %w", err)
	}
	if err := s.store.EnsureAccount(ctx, acct.ID); err != nil {
		return fmt.Errorf("creating the demo account's mailboxes: %w", err)
	}
	s.demo = [2]string{DemoAccount, password}
	return nil
}
