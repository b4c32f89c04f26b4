package sqlite

import (
	"path/filepath"
	"testing"

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
