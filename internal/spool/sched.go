package spool

import (
	"container/heap"
	"slices"
	"sort"
	"sync"
	"time"
)

// The scheduler decides which recipients the loop hands out next. Each
// recipient is a task in a lane: one lane per local account, so that an
// account's mail is delivered in arrival order, and one per entry for its
// remote recipients and for held entries (keyOf). Only the head of a lane may start, alone or as the
// first of the due tasks right behind it, and nothing else in the lane
// starts until they are all done. Lanes are grouped by cell (the
// recipient's Cell when the lane was made): one batch may take several
// lanes of one cell (see next), so that a commit serves many accounts,
// but never lanes of two cells, whose stores are different systems. In
// each cell, lanes whose head is due wait in the ready heap, oldest head
// first; the others wait in the waiting heap, soonest first.
// The scheduler is owned by the loop goroutine and not locked.

// laneKey names a lane.
type laneKey struct {
	account int64
	entry   string // for remote recipients (account 0)
}

// keyOf returns the lane of a recipient. A held entry (Envelope.HoldUntil)
// has lanes of its own: in its account's lane it would hold back all the
// account's later mail until its hold ends. Its sender chose when it
// goes, so it keeps no place in the arrival order.
func keyOf(e *Entry, rcpt int) laneKey {
	a := e.Envelope.Recipients[rcpt].Account
	if a != 0 && e.Envelope.HoldUntil.IsZero() {
		return laneKey{account: a}
	}
	return laneKey{account: a, entry: e.ID}
}

// item is an entry known to the loop.
type item struct {
	// mu guards e and the entry's side file, which workers handling
	// different recipients of the entry update.
	mu sync.Mutex
	e  *Entry

	id    string
	next  int64     // when due, Unix nanoseconds, 0 for now; the scheduler's copy of e.NextAttempt
	hold  int64     // not before then (Envelope.HoldUntil), Unix nanoseconds; next is never earlier
	lanes []laneKey // lanes holding its tasks
	tasks int       // its tasks still in lanes
	gone  bool      // removed from the spool; drop its tasks as they come up
	// failed says an attempt of the entry failed since it was loaded: its
	// tasks then run alone, so that one bad message cannot make every
	// batch it joins fail.
	failed bool
}

// unixNano returns t in Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

type task struct {
	it   *item
	rcpt int
	lane laneKey
	cell string // of the lane
}

func (t task) before(u task) bool {
	return t.it.id < u.it.id || t.it.id == u.it.id && t.rcpt < u.rcpt
}

type lane struct {
	key     laneKey
	part    *part
	tasks   []task // sorted by (entry id, recipient)
	running int    // the first running tasks are in flight
	heap    *laneHeap
	index   int // in heap
}

// part is the lanes of one cell.
type part struct {
	cell    string
	ready   laneHeap // by head id
	waiting laneHeap // by head due time
	pending int      // tasks in its lanes
}

type sched struct {
	items   map[string]*item
	lanes   map[laneKey]*lane
	parts   map[string]*part
	pending int // tasks in lanes
}

func newSched() *sched {
	return &sched{items: map[string]*item{}, lanes: map[laneKey]*lane{}, parts: map[string]*part{}}
}

// part returns the part of cell, made on first use.
func (sc *sched) part(cell string) *part {
	p := sc.parts[cell]
	if p == nil {
		p = &part{cell: cell}
		p.ready.less = func(a, b *lane) bool { return a.tasks[0].before(b.tasks[0]) }
		p.waiting.less = func(a, b *lane) bool {
			na, nb := a.tasks[0].it.next, b.tasks[0].it.next
			return na < nb || na == nb && a.tasks[0].before(b.tasks[0])
		}
		sc.parts[cell] = p
	}
	return p
}

// add makes e's unfinished recipients tasks. Adding a known id does
// nothing.
func (sc *sched) add(e *Entry, now time.Time) {
	if _, ok := sc.items[e.ID]; ok {
		return
	}
	hold := unixNano(e.Envelope.HoldUntil)
	it := &item{e: e, id: e.ID, next: max(unixNano(e.NextAttempt), hold), hold: hold}
	for i, r := range e.Envelope.Recipients {
		if r.finished() {
			continue
		}
		k := keyOf(e, i)
		l := sc.lanes[k]
		if l == nil {
			l = &lane{key: k, part: sc.part(r.Cell)}
			sc.lanes[k] = l
		}
		t := task{it, i, k, l.part.cell}
		start := l.running
		pos := start + sort.Search(len(l.tasks)-start, func(j int) bool { return t.before(l.tasks[start+j]) })
		l.tasks = append(l.tasks, task{})
		copy(l.tasks[pos+1:], l.tasks[pos:])
		l.tasks[pos] = t
		if len(it.lanes) == 0 || it.lanes[len(it.lanes)-1] != k {
			it.lanes = append(it.lanes, k)
		}
		it.tasks++
		sc.pending++
		l.part.pending++
		sc.place(l, now)
	}
	if it.tasks > 0 {
		sc.items[e.ID] = it
	}
}

// place puts l into the heap its head belongs in, or none.
func (sc *sched) place(l *lane, now time.Time) {
	if l.heap != nil {
		heap.Remove(l.heap, l.index)
	}
	if l.running > 0 || len(l.tasks) == 0 {
		return
	}
	if l.tasks[0].it.next <= now.UnixNano() {
		heap.Push(&l.part.ready, l)
	} else {
		heap.Push(&l.part.waiting, l)
	}
}

// peek returns the lane of p whose head should run next, or nil.
func (p *part) peek(now time.Time) *lane {
	for p.waiting.Len() > 0 && p.waiting.l[0].tasks[0].it.next <= now.UnixNano() {
		heap.Push(&p.ready, heap.Pop(&p.waiting))
	}
	if p.ready.Len() == 0 {
		return nil
	}
	return p.ready.l[0]
}

// peek returns, among the cells that ok accepts, the part whose ready head
// is oldest, or nil: the backlog of all cells drains oldest first, and a
// cell that may not start now holds back no other.
func (sc *sched) peek(now time.Time, ok func(*part) bool) *part {
	var best *part
	for _, p := range sc.parts {
		l := p.peek(now)
		if l == nil || !ok(p) {
			continue
		}
		if best == nil || l.tasks[0].before(best.ready.l[0].tasks[0]) {
			best = p
		}
	}
	return best
}

// next takes tasks of p to start together, up to max: the head of the
// lane whose head is oldest with the due tasks right behind it, then the
// same from the lanes next in that order. A task whose entry failed runs
// alone. It returns nil when no lane of p is ready.
func (sc *sched) next(now time.Time, p *part, max int) []task {
	var out []task
	for len(out) < max {
		l := p.peek(now)
		if l == nil {
			break
		}
		alone := l.tasks[0].it.failed
		if alone && len(out) > 0 {
			break
		}
		b := sc.batch(l, now, max-len(out))
		heap.Remove(l.heap, l.index)
		l.running = len(b)
		out = append(out, b...)
		if alone {
			break
		}
	}
	return out
}

// batch returns the tasks of l to start together: its head, with up to
// max-1 of the tasks right behind it that are due and whose entries have
// not failed, in lane order.
func (sc *sched) batch(l *lane, now time.Time, max int) []task {
	n := 1
	if !l.tasks[0].it.failed {
		for n < min(max, len(l.tasks)) {
			it := l.tasks[n].it
			if it.failed || it.gone || it.next > now.UnixNano() {
				break
			}
			n++
		}
	}
	return slices.Clone(l.tasks[:n])
}

// wake returns when the soonest waiting lane becomes due, or zero.
func (sc *sched) wake() time.Time {
	var t time.Time
	for _, p := range sc.parts {
		if p.waiting.Len() > 0 {
			t = earliest(t, time.Unix(0, p.waiting.l[0].tasks[0].it.next))
		}
	}
	return t
}

// done records the end of a running task: finished removes it, otherwise
// it stays in its lane and its entry becomes due at next (Unix
// nanoseconds). The lane can start again when all its running tasks are
// done.
func (sc *sched) done(t task, finished bool, next int64, now time.Time) {
	l := sc.lanes[t.lane]
	l.running--
	if finished || t.it.gone {
		sc.finish(l, t, now)
		return
	}
	t.it.next = max(next, t.it.hold)
	sc.replace(t.it, now)
	sc.place(l, now)
}

// due makes an entry due now, or when its hold ends.
func (sc *sched) due(id string, now time.Time) {
	if it := sc.items[id]; it != nil {
		it.next = it.hold
		sc.replace(it, now)
	}
}

// allDue makes every entry with a task in cell due now: after an outage
// of the cell the backlog drains oldest first instead of waiting out each
// entry's backoff.
func (sc *sched) allDue(cell string, now time.Time) {
	changed := map[*item]bool{}
	for _, l := range sc.lanes {
		if l.part.cell != cell {
			continue
		}
		for _, t := range l.tasks {
			changed[t.it] = true
		}
	}
	for it := range changed {
		// The outage failed them, not their messages: they may join
		// batches again.
		it.next, it.failed = it.hold, false
	}
	// The waiting heaps order lanes by their heads' times, which just
	// changed: mend them before moving lanes between heaps.
	for _, p := range sc.parts {
		heap.Init(&p.waiting)
	}
	for it := range changed {
		sc.replace(it, now)
	}
}

// finish removes task t from l.
func (sc *sched) finish(l *lane, t task, now time.Time) {
	i := slices.IndexFunc(l.tasks, func(u task) bool { return u.it == t.it && u.rcpt == t.rcpt })
	it := t.it
	l.tasks = slices.Delete(l.tasks, i, i+1)
	it.tasks--
	sc.pending--
	l.part.pending--
	if it.tasks == 0 {
		delete(sc.items, it.id)
	}
	if len(l.tasks) == 0 {
		if l.heap != nil {
			heap.Remove(l.heap, l.index)
		}
		delete(sc.lanes, l.key)
		return
	}
	sc.place(l, now)
}

// replace re-places the lanes headed by it after its due time changed.
func (sc *sched) replace(it *item, now time.Time) {
	for _, k := range it.lanes {
		if l := sc.lanes[k]; l != nil && l.running == 0 && len(l.tasks) > 0 && l.tasks[0].it == it {
			sc.place(l, now)
		}
	}
}

// drop forgets an entry removed from the spool. Its running tasks end
// through done.
func (sc *sched) drop(id string, now time.Time) {
	it := sc.items[id]
	if it == nil {
		return
	}
	it.gone = true
	for _, k := range it.lanes {
		l := sc.lanes[k]
		if l == nil {
			continue
		}
		kept := l.tasks[:0]
		for i, t := range l.tasks {
			if t.it == it && i >= l.running {
				it.tasks--
				sc.pending--
				l.part.pending--
				continue
			}
			kept = append(kept, t)
		}
		l.tasks = kept
		if len(l.tasks) == 0 {
			if l.heap != nil {
				heap.Remove(l.heap, l.index)
			}
			delete(sc.lanes, k)
			continue
		}
		sc.place(l, now)
	}
	if it.tasks == 0 {
		delete(sc.items, id)
	}
}

// laneHeap is a heap of lanes; each lane is in at most one.
type laneHeap struct {
	l    []*lane
	less func(a, b *lane) bool
}

func (h *laneHeap) Len() int           { return len(h.l) }
func (h *laneHeap) Less(i, j int) bool { return h.less(h.l[i], h.l[j]) }
func (h *laneHeap) Swap(i, j int) {
	h.l[i], h.l[j] = h.l[j], h.l[i]
	h.l[i].index, h.l[j].index = i, j
}

func (h *laneHeap) Push(x any) {
	l := x.(*lane)
	l.heap, l.index = h, len(h.l)
	h.l = append(h.l, l)
}

func (h *laneHeap) Pop() any {
	l := h.l[len(h.l)-1]
	h.l[len(h.l)-1] = nil
	h.l = h.l[:len(h.l)-1]
	l.heap = nil
	return l
}
