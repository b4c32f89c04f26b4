package delivery

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"casella/internal/spool"
)

// BenchmarkDrainBacklog measures how fast a backlog for one account, the
// worst case since one account's mail is delivered in order, moves from
// the spool into the store: spool read, blob write, store commit and
// spool removal, all with their fsyncs. Compare with the spool's
// BenchmarkEnqueue, the rate at which intake fills it.
func BenchmarkDrainBacklog(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			e := setup(b, spool.Options{Batch: batch, Workers: 4})
			body := "Subject: backlog\r\n\r\n" + strings.Repeat("A line of a message in the backlog.\r\n", 100)
			for i := range b.N {
				e.enqueue(b, "sender@example.org", []spool.Recipient{{Address: "alice@example.test", Account: 1}}, fmt.Sprintf("Message-ID: <%d@bench>\r\n%s", i, body))
			}
			b.ResetTimer()
			start := time.Now()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- e.spool.Run(ctx, e.d) }()
			for e.spool.Stats().Depth > 0 {
				time.Sleep(5 * time.Millisecond)
			}
			b.StopTimer()
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
