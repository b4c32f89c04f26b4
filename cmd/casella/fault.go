package main

import (
	"flag"
	"fmt"
	"net"
	"slices"
	"text/tabwriter"

	"casella/internal/drill"
	"casella/internal/faults"
)

// faultFlags adds --server to a fault command's flags.
func (c *cli) faultFlags(name, synopsis, description string, examples ...string) (*flag.FlagSet, *globals, *string) {
	fs, g := c.newFlags(name, synopsis, description+"\n\n"+
		"Faults change how a running server behaves, for tests and drills only: the server must\n"+
		"have been started with \"casella serve --allow-faults\", which is never for production.",
		examples...)
	server := fs.String("server", "", "the server's HTTP listener, like http://127.0.0.1:8080; default: [http] listen of the configuration")
	return fs, g, server
}

func (c *cli) faultInject(args []string) error {
	fs, g, server := c.faultFlags("fault inject", "TARGET FAULT",
		"Make a running server's storage fail. TARGET is store (the mailbox store) or blob (the\n"+
			"blob store). FAULT is one of:\n"+
			"  error     every call fails with an I/O error\n"+
			"  hang      every call blocks until it times out or the fault is cleared\n"+
			"  readonly  writes fail with \"read-only file system\"; reads work\n"+
			"  nospace   writes fail with \"no space left on device\"; reads work\n"+
			"  corrupt   blob reads find wrong bytes (blob only); the checksum check catches them\n"+
			"  none      clears the target's fault",
		"casella fault inject store error --server http://127.0.0.1:8080",
		"casella fault inject blob corrupt --config /etc/casella.toml")
	pos, err := c.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	fault, err := faults.Parse(pos[1])
	if err != nil {
		return usagef("%v", err)
	}
	admin, err := faultAdmin(g, *server)
	if err != nil {
		return err
	}
	state, err := admin.Inject(c.ctx, pos[0], fault)
	if err != nil {
		return err
	}
	return c.printFaults(state)
}

func (c *cli) faultClear(args []string) error {
	fs, g, server := c.faultFlags("fault clear", "[TARGET]",
		"Clear the fault of one target (store or blob) of a running server, or of all targets.\n"+
			"Calls held by a hang fault go on at once.",
		"casella fault clear --server http://127.0.0.1:8080",
		"casella fault clear store --server http://127.0.0.1:8080")
	pos, err := c.parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	target := ""
	if len(pos) == 1 {
		target = pos[0]
	}
	admin, err := faultAdmin(g, *server)
	if err != nil {
		return err
	}
	state, err := admin.Clear(c.ctx, target)
	if err != nil {
		return err
	}
	return c.printFaults(state)
}

func (c *cli) faultShow(args []string) error {
	fs, g, server := c.faultFlags("fault show", "", "Show the fault of every target of a running server.",
		"casella fault show --server http://127.0.0.1:8080")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	admin, err := faultAdmin(g, *server)
	if err != nil {
		return err
	}
	state, err := admin.Faults(c.ctx)
	if err != nil {
		return err
	}
	return c.printFaults(state)
}

// printFaults prints each target's fault, one per line.
func (c *cli) printFaults(state map[string]faults.Fault) error {
	targets := make([]string, 0, len(state))
	for t := range state {
		targets = append(targets, t)
	}
	slices.Sort(targets)
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
	for _, t := range targets {
		fmt.Fprintf(tw, "%s\t%s\n", t, state[t])
	}
	return tw.Flush()
}

// admin returns a client for the server given by --server, or by the
// configuration's HTTP listener.
func faultAdmin(g *globals, server string) (*drill.Admin, error) {
	if server == "" {
		cfg, err := g.loadConfig()
		if err != nil {
			return nil, err
		}
		if cfg.HTTP.Listen == "" {
			return nil, usagef("the configuration has no [http] listen address; give --server http://HOST:PORT")
		}
		server = dialable(cfg.HTTP.Listen)
	}
	return drill.NewAdmin(server)
}

// dialable turns a listen address into one to connect to: a wildcard host
// means this machine.
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port)
}
