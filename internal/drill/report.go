package drill

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	verdict := "PASSED: every accepted message was delivered exactly once, byte for byte, and nothing was rejected"
	if !r.Passed {
		verdict = "FAILED: " + strings.Join(r.Problems, ", ")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Casella fault drill %s (%s)\n", r.Run, r.Mode)
	fmt.Fprintf(tw, "  schedule\t%s\n", r.schedule())
	fmt.Fprintf(tw, "  load\t%d messages over %d connections\n", r.Messages, r.Connections)
	rows := []struct {
		name string
		n    int
		note string
	}{
		{"sent", r.Sent, ""},
		{"accepted (250)", r.Accepted, ""},
		{"deferred (4xx)", r.Deferred, "the sender retries them"},
		{"rejected (5xx)", r.Rejected, "must be 0"},
		{"interrupted", r.Interrupted, "connection lost before the reply"},
		{"delivered", r.Delivered, ""},
		{"duplicated", r.Duplicated, "must be 0"},
		{"missing", r.Missing, "accepted, not delivered; must be 0"},
		{"checksum mismatches", r.Mismatched, "must be 0"},
		{"unexpected", r.Unexpected, "delivered though refused or never sent; must be 0"},
	}
	for _, row := range rows {
		fmt.Fprintf(tw, "  %s\t%d\t%s\n", row.name, row.n, row.note)
	}
	if r.OtherMessages > 0 {
		fmt.Fprintf(tw, "  other messages\t%d\tin the mailbox, not from this run\n", r.OtherMessages)
	}
	fmt.Fprintf(tw, "  ingest\t%.1f s\t%.0f accepted msg/s\n", r.IngestSeconds, r.IngestRate)
	fmt.Fprintf(tw, "  peak spool depth\t%d\t\n", r.PeakDepth)
	drain := "nothing was waiting"
	if r.Backlog > 0 {
		drain = fmt.Sprintf("%d waiting at the end of the load, %.0f msg/s", r.Backlog, r.DrainRate)
	}
	fmt.Fprintf(tw, "  drain\t%.1f s\t%s\n", r.DrainSeconds, drain)
	if r.DataDir != "" {
		fmt.Fprintf(tw, "  data directory\t%s\t\n", r.DataDir)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, verdict)
	return err
}

// schedule describes what the drill did to the server.
func (r *Report) schedule() string {
	switch r.Fault {
	case FaultKill:
		return fmt.Sprintf("%d SIGKILLs and restarts during the load and the drain", r.Kills)
	case FaultNone:
		return "no fault"
	}
	s := fmt.Sprintf("mailbox store %s from %.1f s", r.Fault, r.FaultInjectedAt)
	if r.FaultClearedAt > 0 {
		s += fmt.Sprintf(" to %.1f s", r.FaultClearedAt)
	}
	return s
}
