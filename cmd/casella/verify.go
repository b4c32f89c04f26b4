package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"casella/internal/blob/audit"
	"casella/internal/blob/replicated"
	"casella/internal/server"
)

func (c *cli) verify(args []string) error {
	fs, g := c.newFlags("verify", "",
		"Check that every blob the mailbox store refers to exists and verifies on every replica\n"+
			"of the blob store, and list stored blobs that no message refers to (orphans; garbage\n"+
			"collection removes them after blob.gc_grace). Problems and a summary go to standard\n"+
			"output, progress to standard error. Exit status 0 when every referenced blob has a good\n"+
			"copy on every replica (after repairs, with --repair), 1 otherwise.\n"+
			"It reads every copy of every message: expect it to take as long as reading the store.",
		"casella verify",
		"casella verify --repair --config /etc/casella.toml")
	repair := fs.Bool("repair", false, "rewrite missing or corrupt copies from a replica whose copy verifies")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	e, err := g.openData()
	if err != nil {
		return err
	}
	defer e.Close()
	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	var sick []string
	damaged, lost := false, false
	for _, name := range server.CellNames(e.Config) {
		if name != "" {
			fmt.Fprintf(c.stdout, "cell %s:\n", name)
		}
		rep, err := c.verifyCell(e, name, *repair, log)
		if err != nil {
			return err
		}
		if !rep.Healthy() {
			sick = append(sick, name)
			damaged = damaged || len(rep.Damaged) > 0
			lost = lost || len(rep.Lost) > 0
		}
	}
	if len(sick) > 0 {
		hint := "run \"casella verify --repair\" to copy good replicas over bad ones"
		if *repair || !damaged {
			hint = "restore the lost blobs from a backup; the messages that refer to them cannot be read"
			if !lost {
				hint = "check the failing replicas' backends, then run \"casella verify --repair\" again"
			}
		}
		if e.Config.Cluster() {
			return fmt.Errorf("the blob stores of cells %s are not healthy; %s", strings.Join(sick, ", "), hint)
		}
		return fmt.Errorf("the blob store is not healthy; %s", hint)
	}
	return nil
}

// verifyCell audits one cell's blob store against its mailbox store and
// prints what it found.
func (c *cli) verifyCell(e *env, name string, repair bool, log *slog.Logger) (audit.Report, error) {
	cl := e.Store.Cell(name)
	b := cl.Backends()
	if b == nil {
		return audit.Report{}, cl.Err()
	}
	blobs, err := server.OpenCellBlobs(c.ctx, e.Config, name, log)
	if err != nil {
		return audit.Report{}, err
	}
	defer blobs.Close()

	start := time.Now()
	rep, err := audit.Run(c.ctx, b.Store, blobs.Set, audit.Options{
		Repair: repair,
		Progress: func(p audit.Progress) {
			switch p.Phase {
			case "referenced":
				fmt.Fprintf(c.stderr, "verify: %d referenced blobs checked, %d with a bad copy\n", p.Blobs, p.Bad)
			case "orphans":
				fmt.Fprintf(c.stderr, "verify: %d stored blobs looked up, %d orphans\n", p.Blobs, p.Orphans)
			}
		},
	})
	if err != nil {
		return audit.Report{}, err
	}
	for _, ch := range rep.Lost {
		fmt.Fprintf(c.stdout, "LOST     %s: no replica has a good copy (%s)\n", ch.Key, copies(ch))
	}
	for _, ch := range rep.Damaged {
		state := "DAMAGED "
		if ch.Healthy() {
			state = "REPAIRED"
		}
		fmt.Fprintf(c.stdout, "%s %s: %s\n", state, ch.Key, copies(ch))
	}
	for _, o := range rep.Orphans {
		fmt.Fprintf(c.stdout, "ORPHAN   %s: %d bytes, last written %s\n", o.Key, o.Size, o.ModTime.UTC().Format(time.RFC3339))
	}
	printSummary(c.stdout, rep, len(blobs.Set.Replicas()), time.Since(start))
	return rep, nil
}

// copies describes each replica's copy of a blob.
func copies(ch replicated.Checked) string {
	var parts []string
	for _, cp := range ch.Copies {
		switch {
		case cp.Err == nil:
			parts = append(parts, cp.Replica+" good")
		case cp.Repaired:
			parts = append(parts, fmt.Sprintf("%s repaired (was: %v)", cp.Replica, cp.Err))
		case cp.RepairErr != nil:
			parts = append(parts, fmt.Sprintf("%s bad: %v; repair failed: %v", cp.Replica, cp.Err, cp.RepairErr))
		default:
			parts = append(parts, fmt.Sprintf("%s bad: %v", cp.Replica, cp.Err))
		}
	}
	return strings.Join(parts, "; ")
}

func printSummary(w io.Writer, rep audit.Report, replicas int, took time.Duration) {
	unrepaired := 0
	for _, ch := range rep.Damaged {
		if !ch.Healthy() {
			unrepaired++
		}
	}
	fmt.Fprintf(w, "%d referenced blobs on %d replicas: %d healthy, %d damaged (%d still damaged), %d lost; %d copies repaired; %d orphans; %s\n",
		rep.Referenced, replicas, rep.Referenced-len(rep.Damaged)-len(rep.Lost), len(rep.Damaged), unrepaired,
		len(rep.Lost), rep.Repaired(), len(rep.Orphans), took.Round(time.Millisecond))
	if rep.Healthy() {
		fmt.Fprintln(w, "healthy")
	} else {
		fmt.Fprintln(w, "NOT healthy")
	}
}
