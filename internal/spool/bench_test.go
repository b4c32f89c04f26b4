package spool

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// BenchmarkEnqueue measures durable enqueues. The parallel runs show group
// commit: concurrent enqueues share directory syncs.
func BenchmarkEnqueue(b *testing.B) {
	for _, size := range []int{4 << 10, 64 << 10} {
		data := make([]byte, size)
		b.Run(fmt.Sprintf("%dKiB/serial", size>>10), func(b *testing.B) {
			s := benchSpool(b)
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := s.Enqueue(context.Background(), envFor(1), data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("%dKiB/parallel", size>>10), func(b *testing.B) {
			s := benchSpool(b)
			b.SetBytes(int64(size))
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Enqueue(context.Background(), envFor(1), data); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func benchSpool(b *testing.B) *Spool {
	s, err := Open(b.TempDir(), Options{Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkRawFsync is the floor Enqueue is compared with: create a 4 KiB
// file, write and fsync it, in the same kind of directory.
func BenchmarkRawFsync(b *testing.B) {
	dir := b.TempDir()
	data := make([]byte, 4<<10)
	var n atomic.Int64
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		p := filepath.Join(dir, fmt.Sprint(n.Add(1)))
		if err := os.WriteFile(p, data, 0o600); err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	os.RemoveAll(dir)
}
