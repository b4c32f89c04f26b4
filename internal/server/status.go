package server

import (
	"context"
	"fmt"
	"net"
	"sort"
	"time"

	"casella/internal/cell"
	"casella/internal/config"
	"casella/internal/nodes"
	"casella/internal/spool"
	"casella/internal/web"
)

// nodeName is how this node appears in the cluster status: its host
// name and HTTP address, which tell apart two nodes on one machine.
func (s *Server) nodeName() string {
	if a := s.Addr("http"); a != nil {
		return net.JoinHostPort(s.cfg.Hostname, portOf(a))
	}
	return s.cfg.Hostname
}

func portOf(a net.Addr) string {
	_, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return port
}

// backlog returns the recipients waiting in this node's intake spool,
// per cell.
func (s *Server) backlog() map[string]int {
	out := map[string]int{}
	for name, c := range s.spool.State().Cells {
		if c.Pending > 0 {
			out[name] = c.Pending
		}
	}
	return out
}

// clusterStatus describes the nodes and cells for /api/status.
func (s *Server) clusterStatus(ctx context.Context) *web.Cluster {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	now := time.Now().UTC()
	self := web.Node{Name: s.nodeName(), Self: true, Started: s.started, Seen: now, Backlog: s.backlog()}
	cl := &web.Cluster{Nodes: []web.Node{self}}
	if s.nodes != nil {
		seen, err := s.nodes.Seen(ctx, now.Add(-nodeSeenWithin))
		if err != nil {
			s.log.Warn("cluster status: reading the node register", "err", err)
		}
		for _, n := range seen {
			if n.Name != self.Name {
				cl.Nodes = append(cl.Nodes, web.Node{Name: n.Name, Started: n.Started, Seen: n.Seen, Backlog: n.Backlog})
			}
		}
	}
	counts, err := s.dir.CellCounts(ctx)
	if err != nil {
		s.log.Warn("cluster status: counting accounts per cell", "err", err)
	}
	loop := s.spool.State().Cells
	states := map[string]bool{}
	errs := map[string]string{}
	for _, st := range s.monitor.States() {
		states[st.Name] = st.Up
		errs[st.Name] = st.Error
	}
	for _, c := range s.cells.Cells() {
		st, blobs := probeNames(c.Name)
		cs := web.CellStatus{Name: c.Name, Up: states[st] && states[blobs], Accounts: -1}
		for _, name := range []string{st, blobs} {
			if e := errs[name]; e != "" && cs.Error == "" {
				cs.Error = name + ": " + e
			}
		}
		if err := c.Err(); err != nil {
			cs.Up, cs.Error = false, err.Error()
		}
		if counts != nil {
			cs.Accounts = counts[c.Name]
		}
		for _, n := range cl.Nodes {
			cs.Backlog += n.Backlog[c.Name]
		}
		cs.Paused = loop[c.Name].Breaker != spool.BreakerClosed
		cl.Cells = append(cl.Cells, cs)
	}
	// Accounts in a cell this node does not know cannot be served or
	// delivered to here: show them, as down, with what to do.
	for _, name := range unknownCells(counts, s.cells) {
		cs := web.CellStatus{Name: name, Accounts: counts[name], Error: unknownCellError(name)}
		for _, n := range cl.Nodes {
			cs.Backlog += n.Backlog[name]
		}
		cl.Cells = append(cl.Cells, cs)
	}
	return cl
}

// unknownCells returns, sorted, the cells that have accounts by counts
// but are not among this node's cells.
func unknownCells(counts map[string]int, r *cell.Router) []string {
	var out []string
	for name, n := range counts {
		if n > 0 && r.Cell(name) == nil {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func unknownCellError(name string) string {
	if name == "" {
		return "accounts without a cell, made before the cluster had cells: they cannot be served until they are moved into one, and their mail waits in the spools"
	}
	return fmt.Sprintf("not in this node's configuration; add a [[cell]] named %q, or their mail waits in the spools", name)
}

// checkCells logs the cells that hold accounts but that this node's
// configuration does not list: their mail waits in the spool, and the
// operator must know why.
func (s *Server) checkCells(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	counts, err := s.dir.CellCounts(ctx)
	if err != nil {
		s.log.Warn("counting accounts per cell", "err", err)
		return
	}
	for _, name := range unknownCells(counts, s.cells) {
		s.log.Error("the directory has accounts in a cell this node does not know", "cell", name, "accounts", counts[name], "what to do", unknownCellError(name))
	}
}

// Heartbeats of the node register.
const (
	heartbeatEvery = 5 * time.Second
	// nodeSeenWithin is how recent a heartbeat must be for its node to
	// be listed: a few missed beats, not one.
	nodeSeenWithin = 30 * time.Second
)

// openNodes opens the node register in the directory's database, in a
// cluster only: an embedded server is its only node.
func (s *Server) openNodes(ctx context.Context) {
	if !s.cfg.Cluster() {
		return
	}
	dsn := s.cfg.Directory.Store
	if dsn == "" {
		dsn = "sqlite:" + DirectoryFile
	}
	kind, target := config.StoreKind(dsn, s.cfg.DataDir)
	engine := nodes.SQLite
	if kind == config.Postgres {
		engine = nodes.Postgres
	}
	r, err := nodes.Open(ctx, engine, target)
	if err != nil {
		// The register only feeds the status page: a node without it
		// serves mail all the same.
		s.log.Warn("cluster status will list this node only", "err", err)
		return
	}
	s.nodes = r
}

// heartbeat records this node in the register.
func (s *Server) heartbeat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, heartbeatEvery)
	defer cancel()
	n := nodes.Node{Name: s.nodeName(), Started: s.started, Seen: time.Now().UTC(), Backlog: s.backlog()}
	if err := s.nodes.Beat(ctx, n); err != nil {
		s.log.Warn("node heartbeat", "err", err)
	}
}
