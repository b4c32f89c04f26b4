package server

import (
	"context"
	"net"
	"time"

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
	counts, err := s.cellCounts(ctx)
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

// cellCounts returns the number of accounts in each cell.
func (s *Server) cellCounts(ctx context.Context) (map[string]int, error) {
	accts, err := s.dir.Accounts(ctx, "")
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, a := range accts {
		out[a.Cell]++
	}
	return out, nil
}
