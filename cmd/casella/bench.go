package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"casella/internal/loadgen"
)

// benchNote ends the description of every bench command.
const benchNote = `The load generator is a plain client: point it at any server (Casella, Postfix,
Dovecot, ...). Progress goes to standard error every second; the report goes to
standard output, as JSON with --json. bench/run.sh in the source tree runs every
bench against Casella, Postfix and Dovecot on one machine.`

// benchFlags are the flags every bench command takes.
type benchFlags struct {
	server loadgen.Conn
	json   bool
}

func (c *cli) newBenchFlags(name, defaultAddr, description string, examples ...string) (*flag.FlagSet, *benchFlags) {
	fs := c.flagsOnly(name, "", description+"\n\n"+benchNote, examples...)
	b := &benchFlags{}
	fs.StringVar(&b.server.Addr, "server", defaultAddr, "the server's `host:port`, or several separated by commas (the nodes of a cluster), which the connections reach in turn")
	fs.BoolVar(&b.server.StartTLS, "starttls", false, "start TLS on every connection before anything else")
	fs.BoolVar(&b.server.Insecure, "insecure", false, "accept any TLS certificate (self-signed test servers)")
	fs.BoolVar(&b.json, "json", false, "print the report as JSON")
	return fs, b
}

// sizeFlag defines a flag holding a size range like 5KB-50KB.
func sizeFlag(fs *flag.FlagSet, name, value, usage string) *loadgen.SizeRange {
	r, err := loadgen.ParseSizeRange(value)
	if err != nil {
		panic("bad default size range: " + value)
	}
	fs.Func(name, usage+" (default "+value+")", func(s string) error {
		v, err := loadgen.ParseSizeRange(s)
		if err == nil {
			r = v
		}
		return err
	})
	return &r
}

// usersFlags defines the flags naming the accounts of a load.
func usersFlags(fs *flag.FlagSet, u *loadgen.Users, patternFlag string) {
	fs.StringVar(&u.Pattern, patternFlag, "user%d@example.test", "address `pattern`; %d counts from 1 to --mailboxes")
	fs.IntVar(&u.Count, "mailboxes", 100, "number of accounts the pattern names")
}

// report prints a bench report as text or JSON.
func (c *cli) report(b *benchFlags, r interface{ WriteText(io.Writer) error }) error {
	if !b.json {
		return r.WriteText(c.stdout)
	}
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// finish prints what a bench measured, even when it also failed, and
// returns the failure.
func finish[R interface{ WriteText(io.Writer) error }](c *cli, b *benchFlags, r R, ok bool, err error) error {
	if ok {
		if perr := c.report(b, r); perr != nil {
			return perr
		}
	}
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

func (c *cli) benchSMTP(args []string) error {
	fs, b := c.newBenchFlags("bench smtp", "127.0.0.1:2525",
		"Send --messages messages over --connections SMTP connections, each to one recipient\n"+
			"in turn of --mailboxes addresses, with sizes drawn uniformly from --size. Reports\n"+
			"messages per second and the p50 and p99 latency of the reply to the end of DATA,\n"+
			"the moment the server takes responsibility for a message.",
		"casella bench smtp",
		"casella bench smtp --server 127.0.0.1:25 --messages 20000 --connections 20 --size 5KB-50KB --mailboxes 100",
		"casella bench smtp --server mx.example.org:25 --starttls --rcpt-pattern bench%d@example.org --mailboxes 10 --json")
	var o loadgen.SMTPOptions
	fs.IntVar(&o.Messages, "messages", 1000, "messages to send")
	fs.IntVar(&o.Connections, "connections", 10, "concurrent SMTP connections")
	size := sizeFlag(fs, "size", "5KB-50KB", "message `size`, or range of sizes")
	fs.StringVar(&o.From, "from", "bench@load.test", "envelope and header `sender`")
	fs.StringVar(&o.Username, "user", "", "log in as `address` with AUTH PLAIN (a submission port; use with --starttls)")
	fs.StringVar(&o.Password, "password", "", "the `password` of --user")
	usersFlags(fs, &o.Recipients, "rcpt-pattern")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	o.Server, o.Size, o.Progress = b.server, *size, c.stderr
	r, err := loadgen.SMTP(c.ctx, o)
	return finish(c, b, r, r != nil, err)
}

func (c *cli) benchSink(args []string) error {
	fs := c.flagsOnly("bench sink", "",
		"Listen for SMTP at --listen and take every message, until --expect messages have\n"+
			"arrived or none has for --idle. Made to be the destination of mail that `casella\n"+
			"bench smtp` sent through a server under test (its outbound queue, or Postfix as a\n"+
			"relay): each message is checked against what bench smtp sends, and a Message-ID\n"+
			"seen twice, a recipient that is not the message's To, a body not cut from the\n"+
			"load's text or a message more than expected is counted as a contradiction. With\n"+
			"--dns it also answers DNS there, every domain's MX being the sink, so that a server\n"+
			"delivering to MX hosts itself (Casella without a smarthost, resolvers set to it)\n"+
			"finds the sink. Reports the messages, contradictions and messages per second from\n"+
			"the sink's start to the last message; exits 1 when messages are missing or\n"+
			"contradictions were found.\n\n"+benchNote,
		"casella bench sink --listen 127.0.0.1:2525 --expect 1000",
		"casella bench sink --listen 127.0.0.1:2525 --dns 127.0.0.1:2553 --expect 20000 --json")
	var o loadgen.SinkOptions
	var asJSON bool
	fs.StringVar(&o.Listen, "listen", "127.0.0.1:2525", "`host:port` of the SMTP listener")
	fs.StringVar(&o.DNS, "dns", "", "`host:port` to answer DNS on as well, every MX and A record naming the sink")
	fs.IntVar(&o.Expect, "expect", 1000, "`messages` to wait for")
	fs.DurationVar(&o.Idle, "idle", time.Minute, "give up after this long without a message")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	o.Progress = c.stderr
	r, err := loadgen.Sink(c.ctx, o)
	if r != nil {
		if perr := c.report(&benchFlags{json: asJSON}, r); perr != nil {
			return perr
		}
		if err == nil && r.Contradictions > 0 {
			err = fmt.Errorf("%d contradictions", r.Contradictions)
		}
	}
	if err != nil {
		return fmt.Errorf("bench sink: %w", err)
	}
	return nil
}

func (c *cli) benchIMAP(args []string) error {
	fs, b := c.newBenchFlags("bench imap", "127.0.0.1:2143",
		"Run --clients IMAP clients for --duration, each in a loop of sessions: LOGIN,\n"+
			"LIST, STATUS of up to 5 mailboxes, SELECT INBOX (CONDSTORE), FETCH of all UIDs and\n"+
			"flags, 1 to 60 commands of a mix (FETCH of the newest envelopes 30%, FETCH of a\n"+
			"whole message 20%, STORE of \\Seen or \\Flagged 15%, STORE of a keyword 5%,\n"+
			"APPEND 10%, STORE \\Deleted and UID EXPUNGE 5%), LOGOUT; every other session\n"+
			"enables QRESYNC. Each session models its mailbox (sequence numbers, UIDs, flags,\n"+
			"MODSEQs) from the server's responses and counts every response that contradicts\n"+
			"it as a protocol error; with no more clients than accounts each account has one\n"+
			"session at a time and the flags of every message are checked too. Client i logs\n"+
			"in to account i of --user-pattern. Reports commands per second, errors, protocol\n"+
			"errors, and the mean, p50 and p99 latency of each command. The mailboxes should\n"+
			"hold mail: --fill appends to each INBOX what it lacks first, unmeasured.",
		"casella bench imap --password secret",
		"casella bench imap --server 127.0.0.1:143 --clients 50 --duration 60s --mailboxes 100 --fill 200 --password secret --json")
	var o loadgen.IMAPOptions
	fs.IntVar(&o.Clients, "clients", 10, "concurrent IMAP clients")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "how long to run")
	fs.IntVar(&o.Fill, "fill", 0, "`messages` each INBOX holds at least before the run")
	fs.Float64Var(&o.Rate, "rate", 0, "offer this many `commands` per second over all clients, at random times, instead of\neach command as soon as the last is answered; compares servers' latencies at an equal load")
	size := sizeFlag(fs, "size", "2KB-20KB", "`size` of appended messages, or range of sizes")
	usersFlags(fs, &o.Users, "user-pattern")
	fs.StringVar(&o.Users.Password, "password", "", "the accounts' `password`")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	o.Server, o.Size, o.Progress = b.server, *size, c.stderr
	r, err := loadgen.IMAP(c.ctx, o)
	return finish(c, b, r, r != nil, err)
}

func (c *cli) benchIdle(args []string) error {
	fs, b := c.newBenchFlags("bench idle", "127.0.0.1:2143",
		"Open --connections IMAP connections, --parallel at a time, each logged in with\n"+
			"INBOX selected and in IDLE; hold them all for --hold, then close them. With --pid\n"+
			"the server's memory (VmRSS and Pss, of the processes and all their descendants,\n"+
			"from /proc) is read before the first connection and after the hold, and the\n"+
			"growth is divided by the connections still idling. Raise the open files limit\n"+
			"(ulimit -n) of both this command and the server for thousands of connections.",
		"casella bench idle --password secret --connections 1000 --pid $(pgrep -f 'casella serve')",
		"casella bench idle --server 127.0.0.1:143 --connections 10000 --hold 30s --password secret --pid $(cat /run/dovecot/master.pid)")
	var o loadgen.IdleOptions
	fs.IntVar(&o.Connections, "connections", 1000, "connections to hold in IDLE")
	fs.DurationVar(&o.Hold, "hold", 10*time.Second, "how long to hold them once all are open")
	fs.IntVar(&o.Parallel, "parallel", 50, "connections opened at once")
	usersFlags(fs, &o.Users, "user-pattern")
	fs.StringVar(&o.Users.Password, "password", "", "the accounts' `password`")
	fs.Func("pid", "server process `id`s to measure, with their descendants; repeat or separate with commas", func(s string) error {
		for f := range strings.SplitSeq(s, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || pid < 1 {
				return fmt.Errorf("invalid process id %q", f)
			}
			o.PIDs = append(o.PIDs, pid)
		}
		return nil
	})
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	o.Server, o.Progress = b.server, c.stderr
	r, err := loadgen.Idle(c.ctx, o)
	return finish(c, b, r, r != nil, err)
}

func (c *cli) benchMailbox(args []string) error {
	fs, b := c.newBenchFlags("bench mailbox", "127.0.0.1:2143",
		"Fill a mailbox to --messages messages with APPEND (internal dates spread over the\n"+
			"last year), or use it as it is if it holds enough, then time on fresh connections,\n"+
			"--repeat times each: SELECT, UID FETCH 1:* (FLAGS), UID SEARCH SINCE (the last 30\n"+
			"days) and, if the server announces SORT, UID SORT (REVERSE DATE).",
		"casella bench mailbox --user big@example.test --password secret",
		"casella bench mailbox --server 127.0.0.1:143 --user big@example.test --password secret --messages 100000 --json")
	var o loadgen.MailboxOptions
	fs.StringVar(&o.User, "user", "", "the account's `address`")
	fs.StringVar(&o.Password, "password", "", "the account's `password`")
	fs.StringVar(&o.Mailbox, "mailbox", "INBOX", "the mailbox `name`; created if missing")
	fs.IntVar(&o.Messages, "messages", 100000, "messages the mailbox must hold")
	size := sizeFlag(fs, "size", "2KB-8KB", "`size` of appended messages, or range of sizes")
	fs.IntVar(&o.Appenders, "appenders", 4, "connections appending at once")
	fs.IntVar(&o.Repeat, "repeat", 3, "times each command is timed")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	o.Server, o.Size, o.Progress = b.server, *size, c.stderr
	r, err := loadgen.Mailbox(c.ctx, o)
	return finish(c, b, r, r != nil, err)
}
