package server

import (
	"context"
	"net"
	"time"

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
	return cl
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
