package server

import (
	"fmt"
	"text/tabwriter"
)

// banner tells the person who started the server where it listens and, on
// a first start, how to log in. Tests read the listener lines, so their
// shape is "  <name>  <host:port>".
func (s *Server) banner() {
	w := tabwriter.NewWriter(s.out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "Casella %s, data directory %s\n", s.cfg.Hostname, s.cfg.DataDir)
	for _, l := range s.listeners {
		fmt.Fprintf(w, "  %s\t%s\n", l.name, l.l.Addr())
	}
	w.Flush()
	if s.demo[0] != "" {
		fmt.Fprintf(s.out, "Demo account: %s  password: %s\n", s.demo[0], s.demo[1])
		fmt.Fprintln(s.out, "  (shown once; change it with: casella account passwd "+s.demo[0]+")")
	}
	fmt.Fprintln(s.out, "Casella is ready.")
}
