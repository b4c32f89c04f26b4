package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"casella/internal/localcluster"
	"casella/internal/pgserver"
	"casella/internal/web"
)

func (c *cli) clusterStatus(args []string) error {
	fs, g := c.newFlags("cluster status", "",
		"Show the cluster as a running node sees it: the nodes seen recently, each cell with\n"+
			"its health, its number of accounts and the mail waiting for it in the nodes' intake\n"+
			"spools. It asks the node's HTTP listener (/api/status); by default the one\n"+
			"[http] listen of the configuration names.",
		"casella cluster status --config cluster.toml",
		"casella cluster status --url http://10.0.0.7:8080")
	url := fs.String("url", "", "base `URL` of a node's HTTP listener; default: from [http] listen")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	base := *url
	if base == "" {
		cfg, err := g.loadConfig()
		if err != nil {
			return err
		}
		if cfg.HTTP.Listen == "" {
			return fmt.Errorf("the configuration has no [http] listen; give the node's address with --url")
		}
		base = "http://" + dialable(cfg.HTTP.Listen)
	}
	st, err := fetchStatus(c.ctx, strings.TrimSuffix(base, "/")+"/api/status")
	if err != nil {
		return err
	}
	printCluster(c, st)
	return nil
}

func fetchStatus(ctx context.Context, url string) (*web.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking %s: %w; is \"casella serve\" running there? Give another node with --url", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("asking %s: %s; check that it is a casella node's HTTP listener", url, resp.Status)
	}
	var st web.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	if st.Cluster == nil {
		return nil, fmt.Errorf("%s describes no cluster; the node is older than this casella", url)
	}
	return &st, nil
}

func printCluster(c *cli, st *web.Status) {
	fmt.Fprintf(c.stdout, "%s\n\n", st.Message)
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "CELL\tSTATE\tACCOUNTS\tWAITING\tDELIVERIES\tERROR\n")
	for _, cs := range st.Cluster.Cells {
		name, state, accounts, deliveries := cs.Name, "up", "?", "running"
		if name == "" {
			name = "(embedded)"
		}
		if !cs.Up {
			state = "DOWN"
		}
		if cs.Accounts >= 0 {
			accounts = fmt.Sprint(cs.Accounts)
		}
		if cs.Paused {
			deliveries = "paused"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", name, state, accounts, cs.Backlog, deliveries, cs.Error)
	}
	tw.Flush()
	fmt.Fprintln(c.stdout)
	tw = tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "NODE\tSTARTED\tLAST SEEN\tWAITING\n")
	for _, n := range st.Cluster.Nodes {
		name := n.Name
		if n.Self {
			name += " (asked)"
		}
		waiting := 0
		for _, v := range n.Backlog {
			waiting += v
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", name, n.Started.Format(time.RFC3339), n.Seen.Format(time.RFC3339), waiting)
	}
	tw.Flush()
}

func (c *cli) clusterLocal(args []string) error {
	fs := c.flagsOnly("cluster local", "",
		"Start a throwaway cluster on loopback to try: a PostgreSQL of this machine's for each\n"+
			"cell (initdb under --dir, a free port), the last one also holding the directory, an S3\n"+
			"server (versitygw) holding one bucket per cell, two cells \"a\" and \"b\", and --nodes\n"+
			"nodes (\"casella serve\", this binary). It prints every node's ports and a demo account\n"+
			"in each cell; any node serves either account. Ctrl-C stops it all and removes --dir\n"+
			"unless --keep is given. It needs PostgreSQL ("+pgserver.Install+") and versitygw\n"+
			"("+localcluster.InstallVersitygw+").",
		"casella cluster local",
		"casella cluster local --dir /tmp/casella-cluster --keep")
	dir := fs.String("dir", "", "`directory` for everything the cluster keeps; default: a new temporary one")
	keep := fs.Bool("keep", false, "keep --dir after stopping, to look at the logs and data")
	nodes := fs.Int("nodes", 2, "how many `nodes` to start (bench/cluster.sh measures one and two)")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "casella-cluster-")
		if err != nil {
			return err
		}
		*dir = d
	} else if des, err := os.ReadDir(*dir); err == nil && len(des) > 0 {
		return fmt.Errorf("%s is not empty; remove it or give another --dir", *dir)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this binary to run the nodes: %w", err)
	}
	cl, err := localcluster.Start(c.ctx, exe, *dir, *nodes, c.stderr)
	if err == nil {
		printLocal(c, cl)
		<-c.ctx.Done()
		fmt.Fprintln(c.stderr, "stopping the nodes, versitygw and PostgreSQL")
		err = cl.Stop()
	}
	if *keep {
		fmt.Fprintf(c.stderr, "kept %s\n", *dir)
	} else {
		os.RemoveAll(*dir)
	}
	return err
}

func printLocal(c *cli, cl *localcluster.Cluster) {
	w := c.stdout
	fmt.Fprintf(w, "\nA Casella cluster runs under %s\n\n", cl.Dir)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "NODE\tSMTP\tIMAP\tPOP3\tHTTP\tLOG\n")
	for i, n := range cl.Nodes {
		addr := func(name string) string { a, _ := n.Addr(name); return a }
		fmt.Fprintf(tw, "node%d\t%s\t%s\t%s\thttp://%s/\t%s\n", i+1, addr("smtp"), addr("imap"), addr("pop3"), addr("http"), n.LogFile())
	}
	tw.Flush()
	for _, cell := range localcluster.Cells {
		fmt.Fprintf(w, "\nPostgreSQL of cell %s: %s", cell, cl.PG[cell].Addr)
	}
	fmt.Fprintf(w, " (also the directory's)\nversitygw %s (one bucket per cell)\n\n", cl.S3)
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "ACCOUNT\tPASSWORD\tCELL\n")
	for _, a := range cl.Accounts {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Address, a.Password, a.Cell)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nTry: casella cluster status --config %s\nCtrl-C stops the cluster.\n", cl.Nodes[0].Config)
}
