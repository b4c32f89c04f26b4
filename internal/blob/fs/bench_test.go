package fs

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"casella/internal/blob"
)

var benchSizes = []int{4 << 10, 64 << 10, 1 << 20}

func benchOpen(b *testing.B) *Store {
	b.Helper()
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkPut stores new content each time: a write, an fsync of the file
// and one of its shard directory.
func BenchmarkPut(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			s := benchOpen(b)
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
}

// BenchmarkPutExisting stores content that is already there: a read, a
// compare and a modification time update, no fsync.
func BenchmarkPutExisting(b *testing.B) {
	for _, size := range benchSizes {
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

// BenchmarkGet reads and verifies a blob.
func BenchmarkGet(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			s := benchOpen(b)
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

// BenchmarkRawFsync is the machine's baseline for BenchmarkPut: 4 KiB
// written to a new file, fsync'd and closed, with nothing else.
func BenchmarkRawFsync(b *testing.B) {
	dir := b.TempDir()
	data := make([]byte, 4<<10)
	b.SetBytes(int64(len(data)))
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
}
