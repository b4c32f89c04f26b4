package blobtest

import (
	"encoding/binary"
	"fmt"
	"testing"

	"casella/internal/blob"
)

// BenchSizes are the blob sizes every backend is measured at: a short
// message, a message with a small attachment, and one with a photo.
var BenchSizes = []int{4 << 10, 64 << 10, 1 << 20}

// Bench measures a store's write and read throughput, in MB/s through
// b.SetBytes, so that backends compare with one another and with the raw
// disk. open must return a new, empty store.
//
//   - Put stores new content each time (a durable write).
//   - Get reads and verifies one of 64 stored blobs in turn.
func Bench(b *testing.B, open func(b *testing.B) blob.Store) {
	for _, size := range BenchSizes {
		b.Run(fmt.Sprintf("Put/%dKiB", size>>10), func(b *testing.B) {
			s := open(b)
			data := make([]byte, size)
			b.SetBytes(int64(size))
			i := uint64(0)
			for b.Loop() {
				i++
				binary.LittleEndian.PutUint64(data, i)
				if _, err := s.Put(b.Context(), data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, size := range BenchSizes {
		b.Run(fmt.Sprintf("Get/%dKiB", size>>10), func(b *testing.B) {
			s := open(b)
			var keys []blob.Key
			for i := range 64 {
				data := make([]byte, size)
				binary.LittleEndian.PutUint64(data, uint64(i))
				key, err := s.Put(b.Context(), data)
				if err != nil {
					b.Fatal(err)
				}
				keys = append(keys, key)
			}
			b.SetBytes(int64(size))
			i := 0
			for b.Loop() {
				if _, err := s.Get(b.Context(), keys[i%len(keys)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
