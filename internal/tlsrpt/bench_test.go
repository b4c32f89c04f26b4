package tlsrpt

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkInboxSummary reads a day of reports for 100 domains, 10
// senders each: what the status page costs once a minute (summaryTTL).
func BenchmarkInboxSummary(b *testing.B) {
	in := &Inbox{Dir: b.TempDir()}
	for d := range 100 {
		domain := fmt.Sprintf("d%d.example", d)
		for o := range 10 {
			data := report(b, fmt.Sprintf("Sender %d", o), "r", 1000, o, map[string]int{"certificate-expired": o}, domain)
			if err := in.Keep(domain, data); err != nil {
				b.Fatal(err)
			}
		}
	}
	since := time.Now().Add(-summaryWindow)
	for b.Loop() {
		sum, err := in.summarize(since)
		if err != nil || len(sum) != maxSummaries {
			b.Fatalf("%d entries, %v", len(sum), err)
		}
	}
}
