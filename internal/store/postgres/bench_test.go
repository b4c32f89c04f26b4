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

// BenchmarkRoundTrip measures the unit of a PostgreSQL store's cost: one
// prepared statement that does nothing, through the same pool and driver
// as the store's queries. A delivery runs about fifteen statements.
func BenchmarkRoundTrip(b *testing.B) {
	srv := pgtest.Start(b, pgtest.Options{Durable: true})
	s := openTest(b, srv.CreateDB(b))
	st, err := s.db.PrepareContext(b.Context(), `SELECT $1::bigint`)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var n int64
	for b.Loop() {
		if err := st.QueryRowContext(b.Context(), 1).Scan(&n); err != nil {
			b.Fatal(err)
		}
	}
}
