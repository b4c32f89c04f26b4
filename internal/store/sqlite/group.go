package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"casella/internal/sqlprep"
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
//     nil error still means the change is on stable storage, and nothing
//     of it is visible to readers before (SQLite publishes a WAL commit
//     after its sync).
//   - A caller whose work fails is rolled back to its savepoint alone and
//     gets its error; the others of the group go on.
//   - When the shared COMMIT fails, or a failure leaves the shared
//     transaction unusable, every caller of the group gets the error and
//     none of their changes is kept.
//   - Watchers hear of a change after the caller is answered (package
//     sqlstore wakes them), so after the COMMIT.
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

// groupWriter is the writer goroutine and its queue.
type groupWriter struct {
	wq *sqlprep.Cache // on the one write connection
	// Callers queue on reqs holding sending for reading; close takes it
	// for writing to set closed and close reqs.
	reqs    chan *writeReq
	sending sync.RWMutex
	closed  bool
	done    chan struct{} // closed when the writer has stopped
	metrics groupMetrics
}

// groupMetrics tell where a write's time goes: waiting for the writer,
// the group's statements, or the COMMIT's sync.
type groupMetrics struct {
	wait   prometheus.Histogram // seconds from a caller's request to its turn
	sizes  prometheus.Histogram // write transactions per group
	work   prometheus.Histogram // seconds from BEGIN to COMMIT
	commit prometheus.Histogram // seconds of the COMMIT
}

func (m groupMetrics) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(m, ch) }

func (m groupMetrics) Collect(ch chan<- prometheus.Metric) {
	m.wait.Collect(ch)
	m.sizes.Collect(ch)
	m.work.Collect(ch)
	m.commit.Collect(ch)
}

// writeReq is one caller's write transaction, waiting for the writer.
type writeReq struct {
	ctx  context.Context
	work func(context.Context, *sqlprep.Tx) error
	done chan error // buffered; receives exactly one value
	sent time.Time  // when the caller asked
}

func newGroupWriter(wq *sqlprep.Cache) *groupWriter {
	seconds := []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1}
	g := &groupWriter{wq: wq, reqs: make(chan *writeReq, maxGroup), done: make(chan struct{}), metrics: groupMetrics{
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "casella_store_write_wait_seconds",
			Help:    "Time a write transaction of the embedded mailbox store waited for the writer to take it: the groups before it.",
			Buckets: seconds,
		}),
		sizes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "casella_store_commit_group_size",
			Help:    "Write transactions of the embedded mailbox store that shared one commit (one fsync).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
		}),
		work: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "casella_store_commit_group_work_seconds",
			Help:    "Time the embedded mailbox store's writer spent running a group's write transactions, before their commit.",
			Buckets: seconds,
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "casella_store_commit_seconds",
			Help:    "Time of each commit (and its fsync) of the embedded mailbox store's writer.",
			Buckets: seconds,
		}),
	}}
	go g.writer()
	return g
}

// run is the store's sqlstore.GroupFunc.
func (g *groupWriter) run(ctx context.Context, work func(context.Context, *sqlprep.Tx) error) error {
	r := &writeReq{ctx: ctx, work: work, done: make(chan error, 1), sent: time.Now()}
	g.sending.RLock()
	if g.closed {
		g.sending.RUnlock()
		return errClosed
	}
	select {
	case g.reqs <- r:
	case <-ctx.Done():
		g.sending.RUnlock()
		return ctx.Err()
	}
	g.sending.RUnlock()
	// Once the writer holds the request, the answer must be the truth
	// about the commit, so it is awaited whatever ctx does.
	return <-r.done
}

// close lets the writer finish the requests queued already and waits.
func (g *groupWriter) close() {
	g.sending.Lock()
	if !g.closed {
		g.closed = true
		close(g.reqs)
	}
	g.sending.Unlock()
	<-g.done
}

// writer runs groups of write transactions until close closes g.reqs, and
// runs those still queued then.
func (g *groupWriter) writer() {
	defer close(g.done)
	for r := range g.reqs {
		g.runGroup(r)
	}
}

// next returns a request that is queued already, or nil.
func (g *groupWriter) next() *writeReq {
	select {
	case r := <-g.reqs:
		return r
	default:
		return nil
	}
}

// runGroup runs first and the requests waiting behind it in one
// transaction, commits it and answers them. Requests that arrive while
// the group runs join it, up to maxGroup: their work costs no fsync.
func (g *groupWriter) runGroup(first *writeReq) {
	ctx := context.Background()
	var ok []*writeReq // savepoint released, waiting for the commit
	answer := func(err error, rs ...*writeReq) {
		for _, r := range rs {
			r.done <- err
		}
	}
	start := time.Now()
	tx, err := g.wq.Begin(ctx, nil)
	if err != nil {
		answer(err, first)
		return
	}
	defer tx.Rollback()
	n := 0
	for r := first; r != nil; r = g.next() {
		n++
		g.metrics.wait.Observe(time.Since(r.sent).Seconds())
		err, fatal := runSavepoint(ctx, tx, r)
		if fatal != nil {
			answer(fmt.Errorf("shared transaction aborted: %w", fatal), append(ok, r)...)
			return
		}
		if err != nil {
			answer(err, r)
		} else {
			ok = append(ok, r)
		}
		if n == maxGroup {
			break
		}
	}
	g.metrics.sizes.Observe(float64(n))
	committing := time.Now()
	g.metrics.work.Observe(committing.Sub(start).Seconds())
	err = tx.Commit()
	g.metrics.commit.Observe(time.Since(committing).Seconds())
	answer(err, ok...)
}

// runSavepoint runs r's work in a savepoint of tx. err is r's own
// failure, after which its savepoint is rolled back; fatal is a failure
// that leaves tx unusable for the whole group.
func runSavepoint(ctx context.Context, tx *sqlprep.Tx, r *writeReq) (err, fatal error) {
	if err := r.ctx.Err(); err != nil {
		return err, nil
	}
	if _, err := tx.ExecContext(ctx, `SAVEPOINT caller`); err != nil {
		return nil, err
	}
	if err = r.work(ctx, tx); err != nil {
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
