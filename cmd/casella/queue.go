package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"casella/internal/server"
	"casella/internal/spool"
)

// queues are the spools "casella queue" shows: mail accepted for local
// mailboxes and not yet delivered, and submitted mail for remote recipients.
var queues = []struct{ name, dir string }{
	{"inbound", server.SpoolDir},
	{"outbound", server.QueueDir},
}

// openQueues opens the spools of the data directory named by the flags.
// Opening a spool does not start its delivery loop, so this works beside a
// running server.
func openQueues(g *globals) (map[string]*spool.Spool, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, err
	}
	m := map[string]*spool.Spool{}
	for _, q := range queues {
		sp, err := spool.Open(filepath.Join(cfg.DataDir, q.dir), spool.Options{})
		if err != nil {
			return nil, fmt.Errorf("%w; check that data directory %s exists and is readable", err, cfg.DataDir)
		}
		m[q.name] = sp
	}
	return m, nil
}

func (c *cli) queueList(args []string) error {
	fs, g := c.newFlags("queue list", "",
		"List the messages waiting in the intake spool (inbound: accepted, not yet in a mailbox)\n"+
			"and in the outbound queue (remote recipients), oldest first.",
		"casella queue list")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	qs, err := openQueues(g)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tID\tAGE\tSIZE\tFROM\tTO\tATTEMPTS\tNEXT\tLAST ERROR")
	for _, q := range queues {
		entries, err := qs[q.name].List(c.ctx)
		if err != nil {
			return err
		}
		for _, e := range entries {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\n", q.name, e.ID,
				time.Since(e.Envelope.Received).Round(time.Second), e.Size, orNull(e.Envelope.From),
				recipients(e), e.Attempts, next(e), e.LastError)
		}
	}
	return tw.Flush()
}

func (c *cli) queueShow(args []string) error {
	fs, g := c.newFlags("queue show", "ID", "Show a queued message: its envelope, retry state and content.",
		"casella queue show 0001732370000000000-000001")
	headers := fs.Bool("headers", false, "print only the message's header, not its body")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	qs, err := openQueues(g)
	if err != nil {
		return err
	}
	name, _, e, data, err := findEntry(c, qs, pos[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Queue:     %s\nID:        %s\nReceived:  %s\nFrom:      %s\nAuth:      %s\nSize:      %d\nAttempts:  %d\nNext:      %s\nLastError: %s\n",
		name, e.ID, e.Envelope.Received.Format(time.RFC3339), orNull(e.Envelope.From), e.Envelope.Auth, e.Size, e.Attempts, next(e), e.LastError)
	for i, r := range e.Envelope.Recipients {
		state := "pending"
		switch {
		case r.Done:
			state = "delivered"
		case r.Failed != "":
			state = "failed: " + r.Failed
		}
		fmt.Fprintf(c.stdout, "To[%d]:     %s (%s)\n", i, r.Address, state)
	}
	fmt.Fprintln(c.stdout)
	if *headers {
		if i := strings.Index(string(data), "\r\n\r\n"); i >= 0 {
			data = data[:i+2]
		}
	}
	_, err = c.stdout.Write(data)
	return err
}

func (c *cli) queueRetry(args []string) error {
	fs, g := c.newFlags("queue retry", "ID...",
		"Make queued messages due now; a running server delivers them within a few seconds.",
		"casella queue retry 0001732370000000000-000001")
	pos, err := c.parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	return c.eachEntry(g, pos, "retrying", (*spool.Spool).Retry)
}

// eachEntry applies op to each queued message named by ids, in whichever
// queue holds it, and reports it with verb.
func (c *cli) eachEntry(g *globals, ids []string, verb string, op func(*spool.Spool, context.Context, string) error) error {
	qs, err := openQueues(g)
	if err != nil {
		return err
	}
	for _, id := range ids {
		name, sp, _, _, err := findEntry(c, qs, id)
		if err != nil {
			return err
		}
		if err := op(sp, c.ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%s: %s %s\n", name, verb, id)
	}
	return nil
}

func (c *cli) queueRemove(args []string) error {
	fs, g := c.newFlags("queue remove", "ID...",
		"Remove queued messages without delivering them. The mail is lost: this needs --yes.",
		"casella queue remove --yes 0001732370000000000-000001")
	yes := fs.Bool("yes", false, "confirm that the messages are to be dropped")
	pos, err := c.parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	if !*yes {
		return usagef("queue remove drops mail for good; add --yes to confirm")
	}
	return c.eachEntry(g, pos, "removed", (*spool.Spool).Remove)
}

// findEntry looks an id up in every queue.
func findEntry(c *cli, qs map[string]*spool.Spool, id string) (string, *spool.Spool, spool.Entry, []byte, error) {
	for _, q := range queues {
		e, data, err := qs[q.name].Get(c.ctx, id)
		if err == nil {
			return q.name, qs[q.name], e, data, nil
		}
		if !errors.Is(err, spool.ErrNotFound) {
			return "", nil, spool.Entry{}, nil, err
		}
	}
	return "", nil, spool.Entry{}, nil, fmt.Errorf("no queued message %s; \"casella queue list\" shows what is queued", id)
}

func recipients(e spool.Entry) string {
	var l []string
	for _, r := range e.Envelope.Recipients {
		if !r.Done && r.Failed == "" {
			l = append(l, r.Address)
		}
	}
	return strings.Join(l, ",")
}

func next(e spool.Entry) string {
	if h := e.Envelope.HoldUntil; time.Until(h) > 0 && h.After(e.NextAttempt) {
		// Held by its sender (JMAP's sendAt), who may still cancel it.
		return "held " + time.Until(h).Round(time.Second).String()
	}
	if e.NextAttempt.IsZero() || time.Until(e.NextAttempt) <= 0 {
		return "now"
	}
	return "in " + time.Until(e.NextAttempt).Round(time.Second).String()
}

func orNull(from string) string {
	if from == "" {
		return "<>"
	}
	return from
}
