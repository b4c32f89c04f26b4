package sqlstore

import "casella/internal/store"

// watcher is one Watch channel; it holds at most one pending value, so
// changes coalesce and notify never blocks.
type watcher struct {
	ch chan struct{}
}

// Watch returns a channel that receives a value after committed changes to
// the account made through this Store, and whenever the engine calls Wake
// or WakeAll for changes it heard of from elsewhere.
func (s *Store) Watch(acct store.Account) (<-chan struct{}, func()) {
	w := &watcher{ch: make(chan struct{}, 1)}
	s.mu.Lock()
	m := s.watchers[acct]
	if m == nil {
		m = map[*watcher]struct{}{}
		s.watchers[acct] = m
	}
	m[w] = struct{}{}
	s.mu.Unlock()
	cancel := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.watchers[acct][w]; !ok {
			return
		}
		delete(s.watchers[acct], w)
		if len(s.watchers[acct]) == 0 {
			delete(s.watchers, acct)
		}
		close(w.ch)
	}
	return w.ch, cancel
}

// Wake wakes the account's watchers: called after a commit, and by an
// engine that hears of another process's commit.
func (s *Store) Wake(acct store.Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers[acct] {
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
}

// WakeAll wakes every watcher, so that each reads the change log again:
// for an engine that may have missed news of other processes' commits.
func (s *Store) WakeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.watchers {
		for w := range m {
			select {
			case w.ch <- struct{}{}:
			default:
			}
		}
	}
}
