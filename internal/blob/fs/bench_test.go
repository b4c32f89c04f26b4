package fs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"casella/internal/blob"
	"casella/internal/blob/blobtest"
)

func benchOpen(b *testing.B) *Store {
	b.Helper()
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkStore measures Put (a write, a link and one sync round) and
// Get (a read and a SHA-256).
func BenchmarkStore(b *testing.B) {
	blobtest.Bench(b, func(b *testing.B) blob.Store { return benchOpen(b) })
}

// BenchmarkPutExisting stores content that is already there: a read, a
// compare and a modification time update, no fsync.
func BenchmarkPutExisting(b *testing.B) {
	for _, size := range blobtest.BenchSizes {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			s := benchOpen(b)
			data := make([]byte, size)
			if _, err := s.Put(b.Context(), data); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := s.Put(b.Context(), data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRaw is the machine's baseline for BenchmarkStore, at the same
// sizes: Write writes a new file, fsyncs and closes it, with nothing else;
// Read reads one of 64 files back, without verifying it.
func BenchmarkRaw(b *testing.B) {
	for _, size := range blobtest.BenchSizes {
		b.Run(fmt.Sprintf("Write/%dKiB", size>>10), func(b *testing.B) {
			dir := b.TempDir()
			data := make([]byte, size)
			b.SetBytes(int64(size))
			i := 0
			for b.Loop() {
				i++
				f, err := os.Create(filepath.Join(dir, fmt.Sprintf("f%d", i)))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.Write(data); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, size := range blobtest.BenchSizes {
		b.Run(fmt.Sprintf("Read/%dKiB", size>>10), func(b *testing.B) {
			dir := b.TempDir()
			data := make([]byte, size)
			for i := range 64 {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d", i)), data, 0o640); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(size))
			i := 0
			for b.Loop() {
				if _, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("f%d", i%64))); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
