package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
)

// writeStats prints stats as a table.
func writeStats(w io.Writer, stats []Stat) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "command\tcount\terrors\tper second\tmean ms\tp50 ms\tp99 ms\tmax ms\t")
	for _, s := range stats {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", s.Op, s.Count, s.Errors, s.PerSecond, s.Mean, s.P50, s.P99, s.Max)
	}
	return tw.Flush()
}

func writeSamples(w io.Writer, samples []string) {
	if len(samples) > 0 {
		fmt.Fprintln(w, "first errors:")
		for _, s := range samples {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
}

// WriteText prints the report for people.
func (r *SMTPReport) WriteText(w io.Writer) error {
	tls := ""
	if r.StartTLS {
		tls = " with STARTTLS"
	}
	fmt.Fprintf(w, "SMTP ingest at %s%s: %d messages of %s over %d connections to %d mailboxes\n",
		r.Server, tls, r.Messages, r.Size, r.Connections, r.Mailboxes)
	fmt.Fprintf(w, "accepted %d  deferred (4xx) %d  rejected (5xx) %d  failed %d  in %.1fs\n",
		r.Accepted, r.Deferred, r.Rejected, r.Failed, r.Elapsed)
	fmt.Fprintf(w, "%.1f messages/s  %.2f MB/s\n", r.PerSecond, r.MBPerSecond)
	fmt.Fprintf(w, "reply to the end of DATA: p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", r.Latency.P50, r.Latency.P99, r.Latency.Max)
	writeSamples(w, r.Errors)
	return nil
}

// WriteText prints the report for people.
func (r *IMAPReport) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "IMAP mix at %s: %d clients over %d mailboxes for %.1fs\n", r.Server, r.Clients, r.Mailboxes, r.Elapsed)
	fmt.Fprintf(w, "%d commands  %d errors  %d protocol errors  %.1f ops/s\n", r.Ops, r.Errors, r.ProtocolErrors, r.PerSecond)
	if !r.Exact {
		fmt.Fprintln(w, "(more clients than accounts: the checks of each message's flags were off)")
	}
	fmt.Fprintln(w)
	if err := writeStats(w, r.Commands); err != nil {
		return err
	}
	writeSamples(w, r.Samples)
	if len(r.ProtocolKinds) > 0 {
		fmt.Fprintln(w, "protocol errors by kind:")
		kinds := slices.Sorted(maps.Keys(r.ProtocolKinds))
		slices.SortStableFunc(kinds, func(a, b string) int { return r.ProtocolKinds[b] - r.ProtocolKinds[a] })
		for _, k := range kinds {
			fmt.Fprintf(w, "  %6d  %s\n", r.ProtocolKinds[k], k)
		}
	}
	return nil
}

// WriteText prints the report for people.
func (r *IdleReport) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "IDLE at %s: %d of %d connections idling after %.1fs of hold (failed %d, dropped %d)\n",
		r.Server, r.Idling, r.Connections, r.Hold, r.Failed, r.Dropped)
	fmt.Fprintf(w, "opened in %.1fs; connect to IDLE: p50 %.2f ms  p99 %.2f ms\n", r.Setup, r.Open.P50, r.Open.P99)
	if r.Before != nil && r.After != nil {
		fmt.Fprintf(w, "server memory: RSS %s -> %s, PSS %s -> %s over %d -> %d processes\n",
			mib(r.Before.RSS), mib(r.After.RSS), mib(r.Before.PSS), mib(r.After.PSS), r.Before.Processes, r.After.Processes)
		fmt.Fprintf(w, "per connection: RSS %.1f KiB  PSS %.1f KiB\n", r.RSSPerConnection/1024, r.PSSPerConnection/1024)
	} else {
		fmt.Fprintln(w, "server memory: not measured (give --pid)")
	}
	writeSamples(w, r.Samples)
	return nil
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// WriteText prints the report for people.
func (r *MailboxReport) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "Large mailbox %q at %s: %d messages", r.Mailbox, r.Server, r.Messages)
	if r.Appended > 0 {
		fmt.Fprintf(w, " (%d appended at %.1f msg/s)", r.Appended, r.AppendPerSecond)
	}
	fmt.Fprint(w, "\n\n")
	if err := writeStats(w, r.Commands); err != nil {
		return err
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "skipped %s\n", s)
	}
	return nil
}
