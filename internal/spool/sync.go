package spool

import (
	"sync"

	"casella/internal/durable"
)

// groupSync makes renames into a directory durable with as few directory
// fsyncs as possible: callers that arrive while a sync runs share the next
// one. Every caller returns only after a sync that started after its call,
// so its rename is covered.
type groupSync struct {
	fsync func() error // syncs the directory; tests slow it down

	mu      sync.Mutex
	cond    *sync.Cond
	busy    bool       // a round is syncing
	waiting *syncRound // the round that starts next; callers join it
}

type syncRound struct {
	callers int
	started bool
	done    chan struct{}
	err     error
}

func newGroupSync(dir string) *groupSync {
	g := &groupSync{fsync: func() error { return durable.SyncDir(dir) }}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// sync returns once the directory has been fsync'd after the call began.
func (g *groupSync) sync() error {
	g.mu.Lock()
	r := g.waiting
	if r == nil {
		r = &syncRound{done: make(chan struct{})}
		g.waiting = r
	}
	r.callers++
	for !r.started {
		if !g.busy {
			// Lead the round: everyone who joined it renamed before now.
			g.busy, r.started, g.waiting = true, true, nil
			g.mu.Unlock()
			r.err = g.fsync()
			close(r.done)
			g.mu.Lock()
			g.busy = false
			g.cond.Broadcast()
			g.mu.Unlock()
			return r.err
		}
		g.cond.Wait()
	}
	g.mu.Unlock()
	<-r.done
	return r.err
}
