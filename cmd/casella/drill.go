package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"casella/internal/blast"
	"casella/internal/drill"
)

const drillHelp = `Run a fault drill: send a load of messages over SMTP while the mailbox store fails or
the server is killed, wait for the intake spool to drain, read every message back over
IMAP, and check that Casella kept its promise.

By default the drill is self-contained: it makes a temporary data directory with a
configuration on free loopback ports, starts "casella serve --allow-faults" (this
binary) as a child process, adds the domain drill.test and the account
drill@drill.test, and removes it all afterwards unless the drill failed or --keep is
given. With --server-smtp, --server-imap, --server-http, --account and --password it
drives a running server instead; that server must allow fault injection for the error
and hang schedules, and the account receives the load.

The load is --messages messages over --connections SMTP connections, each with a
unique Message-ID and a random body of 1 to 50 KB, whose SHA-256 is remembered.
Fault schedules (--fault):
  error  the mailbox store fails every call from --fault-start to --fault-end of the
         messages sent (default: the middle third)
  hang   the same with every store call hanging
  kill   SIGKILL the server --kills times at random moments 200 ms to 1 s apart during
         the load and the drain, restarting it each time (self-contained only)
  none   the load alone, for a baseline ingest rate
With --fault-end 1 the fault is cleared only after the load, so the whole load becomes
a backlog; the drain rate then compares with the ingest rate of a --fault none run.

Afterwards the drill waits for the inbound spool to drain (polling /api/status),
fetches every message with BODY.PEEK[], strips the trace headers the server prepends
(Return-Path, Delivered-To, Received) and counts: sent, accepted (250), deferred (4xx),
rejected (5xx), interrupted (connection lost before the reply, during kills),
delivered, duplicated, missing (accepted but not delivered), checksum mismatches, and
unexpected (delivered though refused or never sent). It measures the ingest rate, the
spool backlog at the end of the load, and the drain time and rate.

A progress line goes to standard error every second; the report goes to standard
output, as JSON with --json. The exit status is 1 when the drill fails: any 5xx, any
accepted message missing, any duplicate, mismatch or unexpected message; or when the
drill could not be carried out.

With --cluster the drill measures the blast radius of a failed cell instead. It starts
the local cluster of "casella cluster local" in a temporary directory (two cells "a"
and "b", each on a PostgreSQL server of its own, versitygw, two nodes), sends the load
to an account of each cell through both nodes, stops cell a's PostgreSQL (pg_ctl stop
-m immediate, as a crash) once a third is sent, and meanwhile runs IMAP and POP3
sessions for both accounts on both nodes: at least 3 rounds and until two thirds are
sent. Then it starts the PostgreSQL again, waits for every node's spool to drain, reads
every mailbox over IMAP and reports: accepted, delivered per cell, lost, duplicated,
5xx answers, cell b's commands answered OK and failed during the outage, cell a's
temporary errors, and the time to drain. The exit status is 1 when anything was lost,
duplicated, altered or rejected, when a cell b command failed, or when cell a answered
other than with a temporary error. It needs PostgreSQL and versitygw, like "casella
cluster local"; --fault, --kills and the --server-* options do not apply.`

func (c *cli) drill(args []string) error {
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	var opts drill.Options
	var remote drill.Remote
	var asJSON, verbose, cluster bool
	fs.IntVar(&opts.Messages, "messages", 10000, "messages to send")
	fs.IntVar(&opts.Connections, "connections", 20, "concurrent SMTP connections")
	fs.StringVar(&opts.Fault, "fault", drill.FaultError, "fault `schedule`: error, hang, kill or none")
	fs.Float64Var(&opts.FaultStart, "fault-start", 1.0/3, "`fraction` of the messages sent at which the fault is injected")
	fs.Float64Var(&opts.FaultEnd, "fault-end", 2.0/3, "`fraction` of the messages sent at which the fault is cleared; 1 clears it after the load")
	fs.IntVar(&opts.Kills, "kills", 20, "SIGKILLs for --fault kill")
	fs.DurationVar(&opts.DrainTimeout, "drain-timeout", 10*time.Minute, "how long to wait for the spool to drain")
	fs.BoolVar(&opts.Keep, "keep", false, "keep a self-contained drill's data directory")
	fs.StringVar(&remote.SMTP, "server-smtp", "", "inbound SMTP listener `host:port` of a running server to drive")
	fs.StringVar(&remote.IMAP, "server-imap", "", "plain IMAP listener `host:port` of that server")
	fs.StringVar(&remote.HTTP, "server-http", "", "HTTP listener `URL` of that server, like http://127.0.0.1:8080")
	fs.StringVar(&remote.Account, "account", "", "`address` of an existing account on that server, which receives the load")
	fs.StringVar(&remote.Password, "password", "", "the account's `password`")
	fs.BoolVar(&cluster, "cluster", false, "drill a local cluster: stop one cell's PostgreSQL under load and check that only that cell notices")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.BoolVar(&verbose, "v", false, "log what the drill does to standard error")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: casella drill [flags]\n\n%s\n\nFlags:\n", drillHelp)
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nExamples:\n  casella drill\n  casella drill --messages 100000 --fault error --fault-end 1\n"+
			"  casella drill --fault kill --kills 20 --json\n"+
			"  casella drill --cluster --messages 2000\n"+
			"  casella drill --server-smtp 127.0.0.1:2525 --server-imap 127.0.0.1:2143 --server-http http://127.0.0.1:8080 \\\n"+
			"      --account drill@example.org --password secret\n")
	}
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}

	if cluster {
		return c.clusterDrill(fs, opts, asJSON, verbose)
	}
	given := []string{remote.SMTP, remote.IMAP, remote.HTTP, remote.Account, remote.Password}
	switch n := countNonEmpty(given); {
	case n == len(given):
		opts.Server = &remote
	case n > 0:
		return usagef("drill: driving a running server needs all of --server-smtp, --server-imap, --server-http, --account and --password")
	default:
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding the casella binary to start a server: %w", err)
		}
		opts.Exe = exe
	}
	opts.Progress = c.stderr
	if verbose {
		opts.Logger = slog.New(slog.NewTextHandler(c.stderr, nil))
	}

	report, err := drill.Run(c.ctx, opts)
	if err != nil {
		return fmt.Errorf("the drill could not be carried out: %w", err)
	}
	if err := c.writeReport(report, asJSON); err != nil {
		return err
	}
	if !report.Passed {
		msg := "the drill failed: " + strings.Join(report.Problems, ", ")
		if report.DataDir != "" {
			msg += "; the server's data and log are kept in " + report.DataDir
		}
		return errors.New(msg)
	}
	return nil
}

// writeReport prints a drill's report to stdout, as indented JSON or as text.
func (c *cli) writeReport(report interface{ WriteText(io.Writer) error }, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return report.WriteText(c.stdout)
}

func countNonEmpty(ss []string) int {
	n := 0
	for _, s := range ss {
		if s != "" {
			n++
		}
	}
	return n
}

// clusterDrill runs casella drill --cluster.
func (c *cli) clusterDrill(fs *flag.FlagSet, o drill.Options, asJSON, verbose bool) error {
	var stray []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "fault", "fault-start", "fault-end", "kills", "server-smtp", "server-imap", "server-http", "account", "password":
			stray = append(stray, "--"+f.Name)
		}
	})
	if len(stray) > 0 {
		return usagef("drill: --cluster always stops cell a's PostgreSQL; drop %s", strings.Join(stray, ", "))
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the casella binary to run the nodes: %w", err)
	}
	opts := blast.Options{Exe: exe, Messages: o.Messages, Connections: o.Connections, Keep: o.Keep, DrainTimeout: o.DrainTimeout, Progress: c.stderr}
	if verbose {
		opts.Logger = slog.New(slog.NewTextHandler(c.stderr, nil))
	}
	report, err := blast.Run(c.ctx, opts)
	if err != nil {
		return fmt.Errorf("the cluster drill could not be carried out: %w", err)
	}
	if err := c.writeReport(report, asJSON); err != nil {
		return err
	}
	if !report.Passed {
		return fmt.Errorf("the cluster drill failed: %s; the cluster's data and logs are kept in %s", strings.Join(report.Problems, "; "), report.DataDir)
	}
	return nil
}
