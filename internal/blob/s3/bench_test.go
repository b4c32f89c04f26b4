package s3_test

import (
	"testing"

	"casella/internal/blob"
	"casella/internal/blob/blobtest"
	"casella/internal/blob/s3/s3test"
)

// BenchmarkStore measures the S3 store against versitygw on loopback, its
// POSIX backend on the same disk as the fs benchmarks: HTTP, signing and
// the server's own writes on top of the disk.
func BenchmarkStore(b *testing.B) {
	srv := s3test.Start(b)
	blobtest.Bench(b, func(b *testing.B) blob.Store { return srv.Open(b) })
}
