// Package durable writes whole files durably, and syncs directories, for
// the spool and the blob store.
//
// A file is written unnamed (O_TMPFILE, Linux 3.11, on ext4, XFS, btrfs and
// tmpfs), fsync'd, then linked into its directory. Compared with the usual
// temporary file renamed into place, it saves a name in a shared temporary
// directory and a rename per file. Both take directory locks, and a rename
// between directories
// also takes the file system's rename lock: with many writers at once,
// intake profiles showed those locks spinning in the kernel for a quarter
// of the CPU. Where the file system has no O_TMPFILE, a temporary file in
// the caller's temporary directory is renamed into place instead.
//
// Neither way syncs the directory: callers do (SyncDir), so that many new
// names can share one directory sync. A Syncer's WriteFile links the file
// first, then makes its bytes and its name durable with one round of
// syncfs that many writers share.
package durable

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// WriteFile writes the parts, one after the other, to a new file, fsyncs it
// and gives it the name path, replacing a file of that name. tmpDir is
// where a temporary file goes when the file system cannot write unnamed
// files; it must be on the same file system as path. On error, no new file
// remains.
func WriteFile(path, tmpDir string, parts ...[]byte) error {
	return write(path, tmpDir, parts, (*os.File).Sync)
}

// write is WriteFile with persist, called after the bytes are written and
// before the file is named, in place of the fsync; nil skips it.
func write(path, tmpDir string, data [][]byte, persist func(*os.File) error) error {
	// linkat cannot replace a file; the rename can. Where a sync comes
	// before the link, look first rather than waste it on a link that
	// fails: spool state files are replaced on every retry. Without one,
	// a failed link costs only the write again, and the Syncer's writers
	// (new spool entries, new blobs) nearly always make new names.
	if persist != nil {
		if _, err := os.Lstat(path); err == nil {
			return writeRenamed(path, tmpDir, data, persist)
		}
	}
	err := writeUnnamed(path, data, persist)
	if errors.Is(err, errNoTmpfile) || errors.Is(err, fs.ErrExist) {
		err = writeRenamed(path, tmpDir, data, persist)
	}
	return err
}

// errNoTmpfile says that the directory's file system cannot make unnamed
// files, or that /proc, which links them, is not mounted.
var errNoTmpfile = errors.New("no O_TMPFILE")

func writeUnnamed(path string, data [][]byte, persist func(*os.File) error) error {
	f, err := os.OpenFile(filepath.Dir(path), unix.O_TMPFILE|os.O_WRONLY, 0o600)
	if err != nil {
		// EISDIR and EOPNOTSUPP are how kernels and file systems without
		// O_TMPFILE refuse it (open(2)).
		if errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
			return errNoTmpfile
		}
		return err
	}
	defer f.Close()
	if err := writeSync(f, data, persist); err != nil {
		return err
	}
	// Linking by the /proc path needs no privilege, unlike AT_EMPTY_PATH
	// before Linux 6.10 (linkat(2)).
	proc := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	err = unix.Linkat(unix.AT_FDCWD, proc, unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	if errors.Is(err, unix.ENOENT) {
		if _, serr := os.Stat(proc); serr != nil {
			return errNoTmpfile
		}
	}
	if errors.Is(err, unix.EEXIST) {
		return fs.ErrExist
	}
	if err != nil {
		return &os.LinkError{Op: "link", Old: proc, New: path, Err: err}
	}
	return nil
}

func writeRenamed(path, tmpDir string, data [][]byte, persist func(*os.File) error) error {
	f, err := os.CreateTemp(tmpDir, filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = writeSync(f, data, persist)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func writeSync(f *os.File, parts [][]byte, persist func(*os.File) error) error {
	for _, p := range parts {
		if _, err := f.Write(p); err != nil {
			return err
		}
	}
	if persist == nil {
		return nil
	}
	return persist(f)
}

// SyncDir fsyncs a directory, making the names created, renamed and
// removed in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory to sync: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
