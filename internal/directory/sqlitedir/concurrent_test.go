package sqlitedir

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"casella/internal/directory/directorytest"
)

// TestConcurrentWriters checks that writers on two handles of one file
// wait for each other instead of failing with SQLITE_BUSY.
func TestConcurrentWriters(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "directory.db")
	var dirs [2]*Dir
	for i := range dirs {
		d, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		dirs[i] = d
	}
	if _, err := dirs[0].AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			d := dirs[i%2]
			if _, err := d.AddDomain(ctx, fmt.Sprintf("d%d.example", i)); err != nil {
				errs <- err
			}
			if err := d.SetCatchAll(ctx, "example.com", ""); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	l, err := dirs[1].Domains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 41 {
		t.Fatalf("%d domains, want 41", len(l))
	}
}

func BenchmarkResolve(b *testing.B) {
	d, err := Open(filepath.Join(b.TempDir(), "directory.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	directorytest.BenchResolve(b, d)
}

func BenchmarkAuthenticate(b *testing.B) {
	ctx := b.Context()
	d, err := Open(filepath.Join(b.TempDir(), "directory.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if _, err := d.AddDomain(ctx, "example.com"); err != nil {
		b.Fatal(err)
	}
	if _, err := d.AddAccount(ctx, "user@example.com", "pw", 0, ""); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := d.Authenticate(ctx, "user@example.com", "pw"); err != nil {
			b.Fatal(err)
		}
	}
}
