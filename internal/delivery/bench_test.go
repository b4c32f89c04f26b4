package delivery

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"casella/internal/spool"
)

// BenchmarkDrainBacklog measures how fast a backlog moves from the spool
// into the store: spool read, blob write, store commit and spool removal,
// all with their fsyncs. The backlog is for one account (its mail is
// delivered in order, one batch at a time) or spread over as many accounts
// as messages, the shape of a provider's backlog after a store outage.
// Compare with the spool's BenchmarkEnqueue, the rate at which intake
// fills it.
func BenchmarkDrainBacklog(b *testing.B) {
	for _, spread := range []bool{false, true} {
		for _, batch := range []int{1, 64} {
			name := fmt.Sprintf("one-account/batch=%d", batch)
			if spread {
				name = fmt.Sprintf("spread/batch=%d", batch)
			}
			b.Run(name, func(b *testing.B) { drainBacklog(b, batch, spread) })
		}
	}
}

func drainBacklog(b *testing.B, batch int, spread bool) {
	e := setup(b, spool.Options{Batch: batch, Workers: 4, ReplaySafe: true}) // as the server runs it
	body := "Subject: backlog\r\n\r\n" + strings.Repeat("A line of a message in the backlog.\r\n", 100)
	for i := range b.N {
		acct := int64(1)
		if spread {
			acct = int64(i + 1)
		}
		rcpt := spool.Recipient{Address: fmt.Sprintf("user%d@example.test", acct), Account: acct}
		e.enqueue(b, "sender@example.org", []spool.Recipient{rcpt}, fmt.Sprintf("Message-ID: <%d@bench>\r\n%s", i, body))
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
}
