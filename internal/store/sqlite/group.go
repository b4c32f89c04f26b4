package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"casella/internal/sqlprep"
	"casella/internal/store"
)

// Group commit. A commit in WAL mode with synchronous=FULL costs an fsync
// of the WAL, and SQLite has one writer: with one transaction per caller,
// every STORE, EXPUNGE, COPY and APPEND of every session queued behind the
// fsync of the one before. The writer goroutine instead takes the write
// transactions waiting for it, runs each in a SAVEPOINT of one shared
// transaction and commits once, so a group of callers pays one fsync.
//
// What a caller is told keeps its meaning:
//   - A caller is answered only after the shared COMMIT returned, so a
//     nil error still means the change is on stable storage.
//   - A caller whose work fails is rolled back to its savepoint alone and
//     gets its error; the others of the group go on.
//   - When the shared COMMIT fails, or a failure leaves the shared
//     transaction unusable, every caller of the group gets the error and
//     none of their changes is kept.
//   - Watchers hear of an account's change only after the COMMIT.
//
// The callers' work runs under the writer's context, not theirs: an
// interrupt of a statement inside an explicit transaction may roll back
// the whole transaction, which here holds other callers' work. A caller
// whose context is done before its turn is skipped.

// maxGroup bounds how many write transactions share one commit, so that
// the first of a long burst is not kept waiting for all the others.
const maxGroup = 128

// errClosed answers writes that arrive after Close.
var errClosed = errors.New("mailbox store closed")

// writeReq is one caller's write transaction, waiting for the writer.
type writeReq struct {
	ctx    context.Context
	op     string
	accts  []store.Account
	create bool
	fn     func(w *wtx, i int) error
	done   chan error // buffered; receives exactly one value

	changed []store.Account // accounts to notify after the commit
}

// groupMetrics counts the writer's groups.
func groupMetrics() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "casella_store_commit_group_size",
		Help:    "Write transactions of the embedded mailbox store that shared one commit (one fsync).",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
	})
}

// Metrics returns the store's metrics, for the server's registry.
func (s *Store) Metrics() prometheus.Collector { return s.groupSizes }

// writeEach runs fn once for each of accts, with the account's state,
// within one savepoint of the writer's next shared transaction, and
// returns once that transaction committed (see Group commit above).
func (s *Store) writeEach(ctx context.Context, op string, accts []store.Account, create bool, fn func(w *wtx, i int) error) error {
	r := &writeReq{ctx: ctx, op: op, accts: accts, create: create, fn: fn, done: make(chan error, 1)}
	s.sending.RLock()
	if s.closed {
		s.sending.RUnlock()
		return dbError(op, errClosed)
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		s.sending.RUnlock()
		return dbError(op, ctx.Err())
	}
	s.sending.RUnlock()
	// Once the writer holds the request, the answer must be the truth
	// about the commit, so it is awaited whatever ctx does.
	return <-r.done
}

// writer runs groups of write transactions until Close closes s.reqs, and
// runs those still queued then.
func (s *Store) writer() {
	defer close(s.writerDone)
	defer close(s.committed)
	for r := range s.reqs {
		s.runGroup(r)
	}
}

// checkpointEvery is how often at most the checkpointer runs.
const checkpointEvery = time.Second

// checkpointer copies committed pages from the WAL back into the database
// file. SQLite does that by itself in the commit that crosses 1000 WAL
// pages, where the copy and the fsync of the database file add to that
// group's wait; here the writer's connection never checkpoints
// (wal_autocheckpoint=0) and this goroutine does, on its own connection,
// at most once per checkpointEvery after commits. PASSIVE waits for no
// reader and no writer; what it cannot copy yet is copied next time. A
// failure is left for the next round too, as SQLite leaves a failed
// automatic checkpoint.
func (s *Store) checkpointer() {
	defer close(s.ckDone)
	for range s.committed {
		s.ck.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		select {
		case <-time.After(checkpointEvery):
		case <-s.writerDone:
			return
		}
	}
}

// next returns a request that is queued already, or nil.
func (s *Store) next() *writeReq {
	select {
	case r := <-s.reqs:
		return r
	default:
		return nil
	}
}

// runGroup runs first and the requests waiting behind it in one
// transaction, commits it and answers them. Requests that arrive while
// the group runs join it, up to maxGroup: their work costs no fsync.
func (s *Store) runGroup(first *writeReq) {
	ctx := context.Background()
	var ok []*writeReq // savepoint released, waiting for the commit
	fail := func(err error, rs ...*writeReq) {
		for _, r := range rs {
			r.done <- dbError(r.op, err)
		}
	}
	tx, err := s.wq.Begin(ctx, nil)
	if err != nil {
		fail(err, first)
		return
	}
	defer tx.Rollback()
	stmts := map[string]*sql.Stmt{}
	n := 0
	for r := first; r != nil; r = s.next() {
		n++
		err, fatal := s.runSavepoint(ctx, tx, stmts, r)
		if fatal != nil {
			fail(fmt.Errorf("shared transaction aborted: %w", fatal), append(ok, r)...)
			return
		}
		if err != nil {
			fail(err, r)
		} else {
			ok = append(ok, r)
		}
		if n == maxGroup {
			break
		}
	}
	s.groupSizes.Observe(float64(n))
	if err := tx.Commit(); err != nil {
		fail(err, ok...)
		return
	}
	select {
	case s.committed <- struct{}{}:
	default:
	}
	for _, r := range ok {
		for _, acct := range r.changed {
			s.notify(acct)
		}
		r.done <- nil
	}
}

// runSavepoint runs r's work in a savepoint of tx. err is r's own
// failure, after which its savepoint is rolled back; fatal is a failure
// that leaves tx unusable for the whole group.
func (s *Store) runSavepoint(ctx context.Context, tx *sqlprep.Tx, stmts map[string]*sql.Stmt, r *writeReq) (err, fatal error) {
	if err := r.ctx.Err(); err != nil {
		return err, nil
	}
	if _, err := tx.ExecContext(ctx, `SAVEPOINT caller`); err != nil {
		return nil, err
	}
	r.changed = r.changed[:0]
	err = func() error {
		for i, acct := range r.accts {
			w := &wtx{ctx: ctx, tx: tx, acct: acct, boxes: map[int64]*boxState{}, stmts: stmts}
			if err := w.load(r.create); err != nil {
				return err
			}
			if err := r.fn(w, i); err != nil {
				return err
			}
			if err := w.finish(); err != nil {
				return err
			}
			if w.changed {
				r.changed = append(r.changed, acct)
			}
		}
		return nil
	}()
	if err != nil {
		r.changed = nil
		// A failure SQLite answers by rolling back the whole transaction
		// (a full disk, an I/O error) takes the savepoint with it, and
		// ROLLBACK TO then fails too.
		if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO caller`); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
	}
	if _, rerr := tx.ExecContext(ctx, `RELEASE caller`); rerr != nil {
		return nil, rerr
	}
	return err, nil
}
