package delivery

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"casella/internal/directory/sqlitedir"
	"casella/internal/spool"
	"casella/internal/store"
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

// BenchmarkSieveDelivery compares draining a backlog spread over 16
// accounts, each with the 50-rule script (rules50), with the same
// accounts without a script. Both run with the directory's scripts
// looked up, as the server does; run it with -count to interleave the
// two and read their ratio.
func BenchmarkSieveDelivery(b *testing.B) {
	for _, script := range []bool{false, true} {
		name := "no-script"
		if script {
			name = "50-rules"
		}
		b.Run(name, func(b *testing.B) {
			e := setup(b, spool.Options{Batch: 64, Workers: 4, ReplaySafe: true})
			src := ""
			if script {
				src = rules50()
			}
			accts := addAccounts(b, e, 16, src)
			body := "Subject: backlog\r\nFrom: someone@example.com\r\nTo: u1@example.com\r\n\r\n" + strings.Repeat("A line of a message in the backlog.\r\n", 100)
			for i := range b.N {
				a := accts[i%len(accts)]
				rcpt := spool.Recipient{Address: fmt.Sprintf("u%d@example.com", a), Account: int64(a)}
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

// addAccounts adds n accounts to a real directory, u1@example.com on,
// each with src as its active script unless src is empty, and turns
// filtering on.
func addAccounts(b testing.TB, e *env, n int, src string) []store.Account {
	b.Helper()
	ctx := context.Background()
	dir, err := sqlitedir.Open(filepath.Join(b.TempDir(), "directory.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { dir.Close() })
	if _, err := dir.AddDomain(ctx, "example.com"); err != nil {
		b.Fatal(err)
	}
	var out []store.Account
	for i := range n {
		a, err := dir.AddAccount(ctx, fmt.Sprintf("u%d@example.com", i+1), "bench-password", 0, "")
		if err != nil {
			b.Fatal(err)
		}
		if err := e.store.EnsureAccount(ctx, a.ID); err != nil {
			b.Fatal(err)
		}
		if src != "" {
			if err := dir.PutSieveScript(ctx, a.ID, "main", src); err != nil {
				b.Fatal(err)
			}
			if err := dir.SetActiveSieveScript(ctx, a.ID, "main"); err != nil {
				b.Fatal(err)
			}
		}
		out = append(out, a.ID)
	}
	e.d.Filters = &Filters{Scripts: dir, Memory: dir, Logger: quiet()}
	return out
}
