package blast

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteText writes the report for people, in the layout of the fault
// drill's.
func (r *Report) WriteText(w io.Writer) error {
	verdict := fmt.Sprintf("PASSED: cell %s's outage touched only cell %s; every accepted message was delivered exactly once, byte for byte, and nothing was rejected", r.FailedCell, r.FailedCell)
	if !r.Passed {
		verdict = "FAILED: " + strings.Join(r.Problems, "; ")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Casella cluster drill %s (%d nodes, %d cells)\n", r.Run, r.Nodes, len(r.Cells))
	fmt.Fprintf(tw, "  schedule\tcell %s's PostgreSQL stopped (immediate) at %.1f s for %.1f s\n", r.FailedCell, r.OutageAt, r.OutageSeconds)
	fmt.Fprintf(tw, "  load\t%d messages over %d connections to both cells through every node\n", r.Messages, r.Connections)
	row := func(name string, n int, note string) { fmt.Fprintf(tw, "  %s\t%d\t%s\n", name, n, note) }
	row("sent", r.Sent, "")
	row("accepted (250)", r.Accepted, "")
	row("deferred (4xx)", r.Deferred, "the sender retries them")
	row("rejected (5xx)", r.Rejected, "must be 0")
	row("interrupted", r.Interrupted, "connection lost before the reply")
	cells := make([]string, 0, len(r.Cells))
	for c := range r.Cells {
		cells = append(cells, c)
	}
	slices.Sort(cells)
	for _, c := range cells {
		t := r.Cells[c]
		row("delivered, cell "+c, t.Delivered, fmt.Sprintf("of %d accepted", t.Accepted))
	}
	row("lost", r.Lost, "accepted, not delivered; must be 0")
	row("duplicated", r.Duplicated, "must be 0")
	row("checksum mismatches", r.Mismatched, "must be 0")
	row("unexpected", r.Unexpected, "delivered though refused; must be 0")
	row("healthy cells, commands OK", r.HealthyOK, "IMAP and POP3 during the outage")
	row("healthy cells, failures", r.HealthyFailed, "must be 0")
	row("cell "+r.FailedCell+", temporary errors", r.FailedTemporary, "NO [UNAVAILABLE], -ERR [SYS/TEMP]")
	row("cell "+r.FailedCell+", other answers", r.FailedOther, "must be 0")
	fmt.Fprintf(tw, "  drain\t%.1f s\tfrom the restart to empty spools on every node\n", r.DrainSeconds)
	if r.DataDir != "" {
		fmt.Fprintf(tw, "  data directory\t%s\t\n", r.DataDir)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, verdict)
	return err
}
