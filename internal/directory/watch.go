package directory

import (
	"sync"

	"casella/internal/store"
)

// RecordWatch is implemented by directories that tell of the changes of
// the records they keep for an account's JMAP objects, for push (RFC 8620
// section 7): Sieve scripts, app passwords and submissions, those made
// through them and, in a cluster, those other nodes made.
type RecordWatch interface {
	// WatchRecords returns a channel that receives after changes of
	// acct's records, and the function that stops the watch.
	WatchRecords(acct store.Account) (<-chan struct{}, func())
}

// Watchers wakes those who watch accounts: each watcher has a channel
// that holds at most one pending value, so wakes coalesce and Wake never
// blocks. The zero value is ready to use.
type Watchers struct {
	mu sync.Mutex
	m  map[store.Account]map[chan struct{}]bool
}

// Watch returns a channel that receives after each Wake of acct (or
// WakeAll), and the function that stops the watch.
func (w *Watchers) Watch(acct store.Account) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[store.Account]map[chan struct{}]bool{}
	}
	if w.m[acct] == nil {
		w.m[acct] = map[chan struct{}]bool{}
	}
	w.m[acct][ch] = true
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.m[acct], ch)
		if len(w.m[acct]) == 0 {
			delete(w.m, acct)
		}
	}
}

// Wake wakes the watchers of acct.
func (w *Watchers) Wake(acct store.Account) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.m[acct] {
		wake(ch)
	}
}

// WakeAll wakes every watcher: for news that may have been missed, such
// as while a connection that listens for other nodes' changes was down.
func (w *Watchers) WakeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, chs := range w.m {
		for ch := range chs {
			wake(ch)
		}
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
