package postgres

import (
	"testing"

	"casella/internal/pgtest"
	"casella/internal/store"
	"casella/internal/store/storetest"
)

// BenchmarkStore runs the benchmarks every store runs (storetest.Bench)
// on a durable server (fsync on, as in production), a new database for
// each.
func BenchmarkStore(b *testing.B) {
	srv := pgtest.Start(b, pgtest.Options{Durable: true})
	storetest.Bench(b, func(b *testing.B) store.Store { return openTest(b, srv.CreateDB(b)) })
}
