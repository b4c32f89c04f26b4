package spool

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// mountTmpfs mounts a small tmpfs for the test, or skips it where mounting
// is not permitted.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return dir
}

func TestDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "256k")
	s := openSpool(t, dir, Options{})
	id := enqueue(t, s, envFor(1), strings.Repeat("x", 64<<10))
	_, err := s.Enqueue(context.Background(), envFor(1), make([]byte, 512<<10))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Enqueue on a full disk = %v, want ENOSPC", err)
	}
	if names := dirNames(t, filepath.Join(dir, tmpDir)); len(names) != 0 {
		t.Fatalf("temporary files left: %v", names)
	}
	list, err := s.List(context.Background())
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if st := s.Stats(); st.Depth != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestReadOnlyDir(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	s := openSpool(t, dir, Options{})
	enqueue(t, s, envFor(1), "before")
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot remount read-only: %v", err)
	}
	_, err := s.Enqueue(context.Background(), envFor(1), []byte("after"))
	if !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), "spool: write entry") {
		t.Fatalf("Enqueue on a read-only directory = %v", err)
	}
	if st := s.Stats(); st.Depth != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}
