package spool

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"casella/internal/backoff"
)

// outcome is how one Handle call ended, as the loop sees it.
type outcome int

const (
	delivered outcome = iota // handler succeeded
	permanent                // handler failed for good; recipient finished
	failed                   // temporary failure; retry after backoff
	canceled                 // the loop is stopping; nothing recorded
	gone                     // entry removed meanwhile
	corrupt                  // entry failed its checksum and was quarantined
)

type result struct {
	t       task
	outcome outcome
	err     error
	next    int64 // for failed: when the entry is due again, Unix nanoseconds
	// batched marks the results after the first of a batch that failed as
	// a whole: one failure for the circuit breaker, not one per task.
	batched bool
}

// work handles the tasks of one lane taken together and records their
// results in their entries' states. Several tasks go to the handler in
// one HandleBatch call.
func (s *Spool) work(ctx context.Context, h Handler, batch []task) []result {
	bh, ok := h.(BatchHandler)
	if !ok || len(batch) == 1 {
		return []result{s.workOne(ctx, h, batch[0])}
	}
	var rs []result
	var ready []task
	var tasks []Task
	for _, t := range batch {
		e, data, r, ok := s.load(t)
		if !ok {
			rs = append(rs, r)
			continue
		}
		ready = append(ready, t)
		tasks = append(tasks, Task{Entry: e, Data: data, Rcpt: t.rcpt})
	}
	if len(ready) == 0 {
		return rs
	}
	err := s.guard(ready[0].it.id, func() error { return bh.HandleBatch(ctx, tasks) })
	if errors.Is(err, ErrPermanent) {
		// Which task failed for good is unknown; each will run alone and
		// say.
		err = fmt.Errorf("spool: batch: %v", err)
	}
	// Recorded concurrently, the entries' removals share sync rounds
	// (durable.Syncer) instead of taking one each.
	out := make([]result, len(ready))
	var wg sync.WaitGroup
	for i, t := range ready {
		wg.Go(func() {
			out[i] = s.outcome(ctx, t, tasks[i].Entry, err)
			out[i].batched = i > 0
			s.status(out[i], tasks[i].Entry, "")
		})
	}
	wg.Wait()
	return append(rs, out...)
}

// workOne handles one task.
func (s *Spool) workOne(ctx context.Context, h Handler, t task) result {
	e, data, r, ok := s.load(t)
	if !ok {
		return r
	}
	var reply string
	err := s.guard(t.it.id, func() (err error) {
		if rh, ok := h.(ReplyHandler); ok {
			reply, err = rh.HandleReply(ctx, e, data, t.rcpt)
			return err
		}
		return h.Handle(ctx, e, data, t.rcpt)
	})
	r = s.outcome(ctx, t, e, err)
	s.status(r, e, reply)
	return r
}

// status tells Options.OnStatus the recorded outcome of a task.
func (s *Spool) status(r result, e *Entry, reply string) {
	f := s.opts.OnStatus
	if f == nil {
		return
	}
	switch r.outcome {
	case delivered:
		f(e, r.t.rcpt, reply, nil)
	case permanent, failed:
		f(e, r.t.rcpt, "", r.err)
	}
}

// load reads a task's entry for its handler. When it cannot, ok is false
// and r is the task's result.
func (s *Spool) load(t task) (e *Entry, data []byte, r result, ok bool) {
	id := t.it.id
	b, err := os.ReadFile(s.msgPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, result{t: t, outcome: gone}, false
	}
	if err != nil {
		return nil, nil, s.failed(t, fmt.Errorf("spool: read entry: %w", err)), false
	}
	_, data, err = decodeEntry(b)
	if err != nil {
		s.opts.Logger.Error("spool: entry is corrupt, moving it to corrupt/", "id", id, "err", err)
		if qerr := s.quarantine(id); qerr != nil {
			return nil, nil, s.failed(t, qerr), false
		}
		return nil, nil, result{t: t, outcome: corrupt, err: err}, false
	}
	t.it.mu.Lock()
	e = t.it.e.clone()
	t.it.mu.Unlock()
	return e, data, result{}, true
}

// outcome records how the handler's call for task t of entry e ended.
func (s *Spool) outcome(ctx context.Context, t task, e *Entry, err error) result {
	switch {
	case err == nil:
		s.record(t, func(e *Entry) { e.Envelope.Recipients[t.rcpt].Done = true })
		if f := s.opts.OnDelivered; f != nil {
			f(e, s.opts.Now().Sub(e.Envelope.due()))
		}
		return result{t: t, outcome: delivered}
	case ctx.Err() != nil:
		return result{t: t, outcome: canceled, err: err}
	case !errors.Is(err, ErrPermanent) && s.opts.Lifetime > 0 && s.opts.Now().Sub(e.Envelope.due()) >= s.opts.Lifetime:
		// Past its lifetime a temporary failure ends the recipient, with
		// the last error in the report.
		return s.outcome(ctx, t, e, fmt.Errorf("gave up after %s of retries: %w, %w: %w", s.opts.Lifetime, ErrExpired, ErrPermanent, err))
	case errors.Is(err, ErrPermanent):
		if f := s.opts.OnPermanent; f != nil {
			if perr := f(e, t.rcpt, err); perr != nil {
				return s.failed(t, fmt.Errorf("spool: report permanent failure (%v): %w", err, perr))
			}
		}
		s.record(t, func(e *Entry) { e.Envelope.Recipients[t.rcpt].Failed = err.Error() })
		return result{t: t, outcome: permanent, err: err}
	default:
		s.warn(t, e, err)
		return s.failed(t, err)
	}
}

// warn calls OnDelay for a recipient that failed temporarily once its
// entry is older than WarnAfter, if it has not been warned of yet.
func (s *Spool) warn(t task, e *Entry, err error) {
	if s.opts.OnDelay == nil || s.opts.WarnAfter <= 0 || e.Envelope.Recipients[t.rcpt].Warned ||
		s.opts.Now().Sub(e.Envelope.due()) < s.opts.WarnAfter {
		return
	}
	if werr := s.opts.OnDelay(e, t.rcpt, err); werr != nil {
		s.opts.Logger.Error("spool: delay notice failed; it is sent at the next attempt", "id", e.ID, "rcpt", t.rcpt, "err", werr)
		return
	}
	s.record(t, func(e *Entry) { e.Envelope.Recipients[t.rcpt].Warned = true })
}

// guard calls a handler, turning a panic into an error so that a bug in a
// handler delays mail instead of stopping the server.
func (s *Spool) guard(id string, call func() error) (err error) {
	defer func() {
		if x := recover(); x != nil {
			s.opts.Logger.Error("spool: handler panicked", "id", id, "panic", x, "stack", string(debug.Stack()))
			err = fmt.Errorf("spool: handler panicked: %v", x)
		}
	}()
	return call()
}

// failed records a temporary failure and schedules the next attempt.
func (s *Spool) failed(t task, err error) result {
	var next time.Time
	s.record(t, func(e *Entry) {
		e.Attempts++
		e.LastError = err.Error()
		next = s.opts.Now().Add(s.backoff(e.Attempts))
		e.NextAttempt = next
	})
	return result{t: t, outcome: failed, err: err, next: next.UnixNano()}
}

// backoff returns the wait after the given number of failed attempts:
// RetryMin doubled per attempt up to RetryMax, with jitter taking off up
// to half so that entries that failed together do not retry together.
func (s *Spool) backoff(attempts int) time.Duration {
	return backoff.Delay(attempts, s.opts.RetryMin, s.opts.RetryMax)
}

// record applies change to the entry and persists it: the entry is
// removed when every recipient is finished, otherwise its side file is
// rewritten. Failures to persist are logged; they only repeat idempotent
// work after a restart.
func (s *Spool) record(t task, change func(*Entry)) {
	it := t.it
	it.mu.Lock()
	defer it.mu.Unlock()
	change(it.e)
	if unfinished(it.e) {
		if _, err := os.Stat(s.msgPath(it.id)); err != nil {
			return // removed meanwhile; leave no side file behind
		}
		if err := s.writeState(it.e); err != nil {
			s.opts.Logger.Error("spool: saving entry state", "id", it.id, "err", err)
		}
		return
	}
	if err := s.removeFiles(it.id, s.syncRemoval(it.e)); err != nil {
		s.opts.Logger.Error("spool: removing delivered entry", "id", it.id, "err", err)
	}
}

// removeFiles deletes an entry's files, and makes that durable when sync
// is true.
func (s *Spool) removeFiles(id string, sync bool) error {
	defer s.forget(id)
	t := s.qsync.Begin()
	// The message first: a side file without its message is an orphan
	// that rescans remove; the reverse order could leave, after a crash, a
	// message whose finished recipients are tried again.
	if err := s.removeMsg(id); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Remove(s.statePath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if !sync {
		return nil
	}
	return s.qsync.Sync(t)
}

// removeMsg removes an entry's message file; a keyed entry's goes to
// sent/, where it keeps its key used.
func (s *Spool) removeMsg(id string) error {
	if keyed(id) {
		return s.retire(id)
	}
	return os.Remove(s.msgPath(id))
}

// syncRemoval reports whether the removal of finished entry e must be
// durable before the loop goes on. A removal that a crash undoes replays
// the entry. With a ReplaySafe handler an entry whose every recipient was
// delivered need not wait for a sync round for that, and the next
// Enqueue's round covers its removal anyway. A recipient that failed for
// good was reported to the sender, and a replay would report it again.
func (s *Spool) syncRemoval(e *Entry) bool {
	return !s.opts.ReplaySafe || slices.ContainsFunc(e.Envelope.Recipients, func(r Recipient) bool { return r.Failed != "" })
}
