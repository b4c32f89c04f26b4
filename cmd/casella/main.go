// Command casella is a mail server for providers hosting many mailboxes:
// SMTP, IMAP and POP3 over a mailbox store that keeps mail safe when its
// storage fails (see DESIGN.md).
//
// Implementation notes:
//   - Every subcommand is one entry of the commands table below; a reader
//     sees the whole command surface in one screen.
//   - This package only wires packages together; behaviour lives in
//     internal packages that tests build alone.
//   - Admin commands open the data directory directly (the directory and
//     the mailbox store, both SQLite in WAL mode), so they work while
//     "casella serve" runs on the same data directory.
//   - Errors print as "casella: <what happened>; <what to do>" with exit
//     status 1; usage errors exit with status 2.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
)

// command is one subcommand: its name (one to three words), a one-line
// description, and the function that runs it with the remaining
// arguments.
type command struct {
	name string
	help string
	run  func(c *cli, args []string) error
}

// commands is every subcommand.
var commands = []command{
	{"serve", "run the mail server", (*cli).serve},
	{"version", "print the version and commit of this casella (also --version)", (*cli).version},
	{"domain add", "add a domain whose mail this server receives", (*cli).domainAdd},
	{"domain list", "list the local domains", (*cli).domainList},
	{"domain remove", "remove a domain that has no accounts or aliases", (*cli).domainRemove},
	{"domain catchall", "send mail for unknown addresses of a domain to an account", (*cli).domainCatchAll},
	{"account add", "add an account and create its mailboxes", (*cli).accountAdd},
	{"account list", "list accounts", (*cli).accountList},
	{"account show", "show an account: quota, usage and mailboxes", (*cli).accountShow},
	{"account passwd", "set an account's password", (*cli).accountPasswd},
	{"account quota", "set an account's quota", (*cli).accountQuota},
	{"account unlock", "lift the lock that failed logins put on an account", (*cli).accountUnlock},
	{"account remove", "remove an account and delete all its mail", (*cli).accountRemove},
	{"account token add", "make an app password (bearer token) for an account, shown once", (*cli).accountTokenAdd},
	{"account token list", "list an account's app passwords, never their secrets", (*cli).accountTokenList},
	{"account token revoke", "revoke an app password, effective at once", (*cli).accountTokenRevoke},
	{"alias add", "add an address that forwards to one or more accounts", (*cli).aliasAdd},
	{"alias list", "list aliases", (*cli).aliasList},
	{"alias remove", "remove an alias", (*cli).aliasRemove},
	{"dkim generate", "make DKIM keys for a domain and print their DNS records", (*cli).dkimGenerate},
	{"dkim list", "list DKIM keys and their DNS records", (*cli).dkimList},
	{"dns", "print the DNS records a domain must publish, as zone file lines", (*cli).dns},
	{"dns check", "say which of a domain's DNS records are missing or wrong", (*cli).dnsCheck},
	{"cert status", "list the names [acme] gets certificates for and when each expires", (*cli).certStatus},
	{"queue list", "list messages waiting in the intake spool and the outbound queue", (*cli).queueList},
	{"queue show", "show a queued message", (*cli).queueShow},
	{"queue retry", "make queued messages due now", (*cli).queueRetry},
	{"queue remove", "drop queued messages", (*cli).queueRemove},
	{"fault inject", "make a running server's storage fail (needs serve --allow-faults)", (*cli).faultInject},
	{"fault clear", "clear injected faults", (*cli).faultClear},
	{"fault show", "show injected faults", (*cli).faultShow},
	{"cluster status", "show a cluster's nodes, cells, accounts per cell and mail waiting per cell", (*cli).clusterStatus},
	{"cluster local", "start a throwaway two-cell, two-node cluster on loopback to try", (*cli).clusterLocal},
	{"drill", "run a fault drill and report what was accepted, delivered and lost", (*cli).drill},
	{"verify", "check every message's blob on every replica; --repair fixes bad copies", (*cli).verify},
	{"bench smtp", "measure a server's SMTP ingest: messages/s and DATA reply latency", (*cli).benchSMTP},
	{"bench imap", "measure a server's IMAP under a mix of clients: ops/s and latency per command", (*cli).benchIMAP},
	{"bench idle", "hold many IMAP IDLE connections and measure the server's memory per connection", (*cli).benchIdle},
	{"bench mailbox", "time SELECT, FETCH, SEARCH and SORT on a very large mailbox", (*cli).benchMailbox},
	{"bench sink", "be the MX that relayed bench mail goes to: count and check every message", (*cli).benchSink},
}

// cli is the environment commands run in.
type cli struct {
	ctx            context.Context // cancelled by an interrupt
	stdin          io.Reader
	stdout, stderr io.Writer
}

// usageError is an error in how a command was called; it exits with
// status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	c := &cli{ctx: ctx, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	code := c.main(os.Args[1:])
	stop()
	os.Exit(code)
}

// main runs the command named by args and returns the exit status.
func (c *cli) main(args []string) int {
	err := c.dispatch(args)
	var uerr usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &uerr):
		fmt.Fprintf(c.stderr, "casella: %s\n", uerr.msg)
		return 2
	default:
		fmt.Fprintf(c.stderr, "casella: %s\n", advise(err))
		return 1
	}
}

func (c *cli) dispatch(args []string) error {
	if len(args) == 0 {
		c.overview(c.stderr)
		return usagef("no command given; run \"casella help\" for the list")
	}
	if args[0] == "help" || isHelpFlag(args[0]) {
		return c.help(args[1:])
	}
	if args[0] == "--version" || args[0] == "-version" {
		return c.version(args[1:])
	}
	cmd, rest, ok := lookup(args)
	if !ok {
		return c.unknown(args)
	}
	return cmd.run(c, rest)
}

func isHelpFlag(s string) bool { return s == "-h" || s == "-help" || s == "--help" }

// lookup finds the command named by the first one to three words of args.
func lookup(args []string) (command, []string, bool) {
	for _, n := range []int{3, 2, 1} {
		if len(args) < n {
			continue
		}
		name := strings.Join(args[:n], " ")
		for _, cmd := range commands {
			if cmd.name == name {
				return cmd, args[n:], true
			}
		}
	}
	return command{}, nil, false
}

// unknown reports an unknown command, listing the subcommands of a known
// group ("casella domain").
func (c *cli) unknown(args []string) error {
	group := args[0]
	var subs []command
	for _, cmd := range commands {
		if strings.HasPrefix(cmd.name, group+" ") {
			subs = append(subs, cmd)
		}
	}
	if len(subs) == 0 {
		return usagef("unknown command %q; run \"casella help\" for the list", group)
	}
	if len(args) == 2 && isHelpFlag(args[1]) {
		fmt.Fprintf(c.stdout, "Commands of %q:\n", group)
		c.table(c.stdout, subs)
		return nil
	}
	fmt.Fprintf(c.stderr, "Commands of %q:\n", group)
	c.table(c.stderr, subs)
	if len(args) == 1 {
		return usagef("%q needs a subcommand", group)
	}
	return usagef("unknown command %q; run \"casella help %s\" for the list", group+" "+args[1], group)
}

// help prints the overview, or a command's usage.
func (c *cli) help(args []string) error {
	if len(args) == 0 {
		c.overview(c.stdout)
		return nil
	}
	cmd, _, ok := lookup(args)
	if !ok {
		return c.unknown(args)
	}
	return cmd.run(c, []string{"-help"})
}

func (c *cli) overview(w io.Writer) {
	fmt.Fprintf(w, "casella is a mail server with SMTP, IMAP and POP3.\n\nUsage:\n\n\tcasella <command> [flags] [arguments]\n\nCommands:\n\n")
	c.table(w, commands)
	fmt.Fprintf(w, "\nRun \"casella help <command>\" or \"casella <command> --help\" for a command's flags.\n")
}

func (c *cli) table(w io.Writer, cmds []command) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, cmd := range cmds {
		fmt.Fprintf(tw, "\t%s\t%s\n", cmd.name, cmd.help)
	}
	tw.Flush()
}
