package replicated

import (
	"testing"

	"casella/internal/blob"
	"casella/internal/blob/blobtest"
	"casella/internal/blob/fs"
	"casella/internal/blob/s3/s3test"
)

// BenchmarkStore measures the replicated store over a filesystem replica
// and an S3 one (versitygw on loopback), with the default quorum of both:
// a Put costs the slower of the two writes, a Get the preferred (fs) read
// plus a second SHA-256.
func BenchmarkStore(b *testing.B) {
	srv := s3test.Start(b)
	blobtest.Bench(b, func(b *testing.B) blob.Store {
		d, err := fs.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		s, err := New([]Replica{{"fs", d}, {"s3", srv.Open(b)}}, Options{HintDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	})
}
