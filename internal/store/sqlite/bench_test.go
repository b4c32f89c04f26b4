package sqlite

import (
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"modernc.org/sqlite"

	"casella/internal/store"
	"casella/internal/store/storetest"
)

// BenchmarkStore runs the benchmarks every store runs (storetest.Bench),
// on a database file in a temporary directory.
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		s, err := Open(filepath.Join(b.TempDir(), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	})
}

// BenchmarkGroupCommit runs STOREs or APPENDs from 64 goroutines (32 per
// core) on 50 accounts, each waiting for its write as an IMAP session
// waits before its tagged OK, and reports how many writes shared a commit
// and what a commit and a group's work took: the writer's side of
// storetest's WriteParallel. Under "fsync" SQLite syncs as it did before
// Open switched it to fdatasync(2), for comparison in one run.
func BenchmarkGroupCommit(b *testing.B) {
	for _, sync := range []string{"fdatasync", "fsync"} {
		for _, op := range []string{"Store", "Append"} {
			b.Run(sync+"/"+op, func(b *testing.B) { benchGroupCommit(b, op, sync == "fdatasync") })
		}
	}
}

func benchGroupCommit(b *testing.B, op string, fdatasync bool) {
	const accounts, perAccount = 50, 200
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if !fdatasync {
		if _, err := sqlite.Fdatasync(false); err != nil {
			b.Skip(err)
		}
		defer sqlite.Fdatasync(true)
	}
	inboxes := make([]int64, accounts)
	for a := range inboxes {
		acct := store.Account(a + 1)
		if err := s.EnsureAccount(b.Context(), acct); err != nil {
			b.Fatal(err)
		}
		inbox, err := s.Mailbox(b.Context(), acct, store.Inbox)
		if err != nil {
			b.Fatal(err)
		}
		inboxes[a] = inbox.ID
		batch := make([]store.NewMessage, perAccount)
		for j := range batch {
			batch[j] = storetest.BenchMessage(j)
		}
		if _, err := s.Append(b.Context(), acct, inbox.ID, batch); err != nil {
			b.Fatal(err)
		}
	}
	before := readGroupMetrics(b, s)
	var next atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1))
			acct, inbox := store.Account(i%accounts+1), inboxes[i%accounts]
			var err error
			if op == "Store" {
				uid := uint32(i/accounts%perAccount) + 1
				flag := store.FlagsAdd
				if i/accounts/perAccount%2 == 1 {
					flag = store.FlagsRemove
				}
				_, err = s.UpdateFlags(b.Context(), acct, store.FlagUpdate{Mailbox: inbox,
					UIDs: []store.UIDRange{{First: uid, Last: uid}}, Op: flag, Flags: []string{store.FlagSeen}})
			} else {
				_, err = s.Append(b.Context(), acct, inbox, []store.NewMessage{storetest.BenchMessage(i)})
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	after := readGroupMetrics(b, s)
	if groups := after.groups - before.groups; groups > 0 {
		b.ReportMetric((after.writes-before.writes)/float64(groups), "writes/commit")
		b.ReportMetric(1000*(after.commit-before.commit)/float64(groups), "commit-ms")
		b.ReportMetric(1000*(after.work-before.work)/float64(groups), "work-ms/group")
	}
}

type groupTotals struct {
	groups               uint64
	writes, work, commit float64
}

func readGroupMetrics(b *testing.B, s *Store) groupTotals {
	var t groupTotals
	for _, h := range []struct {
		h   prometheus.Histogram
		sum *float64
	}{{s.group.metrics.sizes, &t.writes}, {s.group.metrics.work, &t.work}, {s.group.metrics.commit, &t.commit}} {
		var m dto.Metric
		if err := h.h.Write(&m); err != nil {
			b.Fatal(err)
		}
		*h.sum = m.Histogram.GetSampleSum()
		t.groups = m.Histogram.GetSampleCount()
	}
	return t
}
