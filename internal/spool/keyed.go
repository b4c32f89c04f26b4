package spool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Keyed entries are what a delivery sends on the side: a redirect, a
// vacation reply, a rejection notice. The delivery that sends one may be
// replayed after a crash (its own spool entry is handled again), and the
// replay must send nothing twice, also when the first copy has long left
// this queue. So a keyed entry's id is a function of its key: its
// receive time, 'k', and the key's hash. While the entry waits its file
// says the key was used; when it leaves, the file is renamed into sent/,
// one atomic step, and the name there says it from then on. sent/ is
// pruned after Options.KeyRetention.
const (
	sentDir   = "sent"
	keyedMark = 'k'
)

// pruneSentEvery is how often the loop removes expired names from sent/.
const pruneSentEvery = time.Hour

// keyedID returns the id of the entry enqueued under key at received.
func keyedID(key string, received time.Time) string {
	sum := sha256.Sum256([]byte(key))
	return fmt.Sprintf("%020d%c%s", received.UnixNano(), keyedMark, hex.EncodeToString(sum[:6]))
}

// keyed reports whether a valid id is that of a keyed entry.
func keyed(id string) bool { return id[20] == keyedMark }

func (s *Spool) sentPath(id string) string { return filepath.Join(s.dir, sentDir, id) }

// EnqueueKeyed is Enqueue made idempotent by key: the first call with a
// key enqueues the message, any later one, in this process or after a
// restart, enqueues nothing and returns the first one's id with dup set,
// for Options.KeyRetention after the first entry left the queue.
//
// env.Received must be set, to a time every call with the key repeats
// (for a delivery's side mail, the receive time of the message being
// delivered): it is part of the entry's id and starts its lifetime.
// Calls with one key must not run concurrently; the intake spool's loop
// never handles one recipient twice at once.
func (s *Spool) EnqueueKeyed(ctx context.Context, key string, env Envelope, data []byte) (id string, dup bool, err error) {
	if env.Received.IsZero() {
		return "", false, errors.New("spool: enqueue keyed: the envelope has no receive time")
	}
	id = keyedID(key, env.Received)
	if used, err := s.keyUsed(id); err != nil || used {
		return id, used, err
	}
	if err := s.enqueue(ctx, id, env, data); err != nil {
		return "", false, err
	}
	return id, false, nil
}

// KeyUsed reports whether EnqueueKeyed was called with key and an
// envelope received at received, so that it would now enqueue nothing,
// and returns that call's id. A sender whose message costs something to
// make, a charge on a sending limit or a signature, asks first, so that
// a replay costs nothing.
func (s *Spool) KeyUsed(ctx context.Context, key string, received time.Time) (id string, used bool, err error) {
	if err := ctx.Err(); err != nil {
		return "", false, fmt.Errorf("spool: key used: %w", err)
	}
	if received.IsZero() {
		return "", false, errors.New("spool: key used: no receive time")
	}
	id = keyedID(key, received)
	used, err = s.keyUsed(id)
	return id, used, err
}

// keyUsed reports whether keyed entry id was enqueued: it is in the
// queue, was moved to corrupt/, or left for sent/. An entry moves only
// from the queue to the others, so looking at the queue first misses
// none.
func (s *Spool) keyUsed(id string) (bool, error) {
	for _, p := range []string{s.msgPath(id), filepath.Join(s.dir, corruptDir, id+".msg"), s.sentPath(id)} {
		_, err := os.Lstat(p)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("spool: looking up keyed entry %s: %w", id, err)
		}
	}
	return false, nil
}

// retire takes a keyed entry's message file out of the queue into sent/,
// where its name keeps the key used, and empties it there.
//
// It syncs no directory of its own: the removal it is part of makes the
// rename durable with its round of syncfs (removeFiles, Remove), which
// covers queue/ and sent/, on one file system, in one flush. Where a
// removal is not synced (Options.ReplaySafe), a crash that undoes the
// rename leaves the name in queue/, where it marks the key used as well,
// and the entry is replayed, which its handler absorbs. The rename is
// atomic, so no crash leaves the name in neither directory; an emptied
// file back in queue/ would fail its checksum and go to corrupt/, which
// marks the key used too.
func (s *Spool) retire(id string) error {
	if err := os.Rename(s.msgPath(id), s.sentPath(id)); err != nil {
		return err
	}
	// Only the name matters from now on. A crash before the truncation
	// leaves the bytes, which the pruning removes in time.
	if err := os.Truncate(s.sentPath(id), 0); err != nil {
		s.opts.Logger.Warn("spool: emptying sent entry", "id", id, "err", err)
	}
	return nil
}

// pruneSent removes the names in sent/ older than Options.KeyRetention.
func (s *Spool) pruneSent() {
	dir := filepath.Join(s.dir, sentDir)
	des, err := os.ReadDir(dir)
	if err != nil {
		s.opts.Logger.Error("spool: reading sent entries", "err", err)
		return
	}
	cutoff := time.Now().Add(-s.opts.KeyRetention)
	n := 0
	for _, de := range des {
		if fi, err := de.Info(); err == nil && fi.ModTime().Before(cutoff) {
			if os.Remove(filepath.Join(dir, de.Name())) == nil {
				n++
			}
		}
	}
	if n > 0 {
		s.opts.Logger.Info("spool: pruned keys of sent entries", "removed", n, "kept", len(des)-n)
	}
}
