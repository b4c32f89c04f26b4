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

// rules50 is a script of 50 rules of the kinds users write, none of which
// matches the benchmark's messages: each message is tested by all.
func rules50() string {
	var b strings.Builder
	b.WriteString(`require ["fileinto", "imap4flags", "envelope", "body"];` + "\n")
	for i := range 50 {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, "if header :contains \"subject\" \"project-%d\" { fileinto \"Projects/%d\"; }\n", i, i)
		case 1:
			fmt.Fprintf(&b, "if address :domain :is \"from\" \"list%d.example.org\" { fileinto \"Lists/%d\"; stop; }\n", i, i)
		case 2:
			fmt.Fprintf(&b, "if header :matches \"list-id\" \"*<team%d.*>*\" { addflag \"$team%d\"; fileinto \"Teams\"; }\n", i, i)
		case 3:
			fmt.Fprintf(&b, "if envelope :is \"from\" \"robot%d@example.net\" { discard; }\n", i)
		case 4:
			fmt.Fprintf(&b, "if anyof (header :is \"x-tag\" \"t%d\", body :text :contains \"unsubscribe-%d\") { fileinto \"Bulk\"; }\n", i, i)
		}
	}
	return b.String()
}

// BenchmarkSieveDelivery compares draining a backlog for one account
// without a script and with a 50-rule script (rules50).
func BenchmarkSieveDelivery(b *testing.B) {
	for _, script := range []bool{false, true} {
		name := "no-script"
		if script {
			name = "50-rules"
		}
		b.Run(name, func(b *testing.B) {
			e := setup(b, spool.Options{Batch: 64, Workers: 4, ReplaySafe: true})
			acct := int64(1)
			if script {
				acct = int64(sieveSetup(b, e, rules50()))
			} else if err := e.store.EnsureAccount(context.Background(), 1); err != nil {
				b.Fatal(err)
			}
			body := "Subject: backlog\r\nFrom: someone@example.com\r\n\r\n" + strings.Repeat("A line of a message in the backlog.\r\n", 100)
			rcpt := spool.Recipient{Address: "u1@example.com", Account: acct}
			for i := range b.N {
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
		})
	}
}
