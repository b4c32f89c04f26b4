package sqlite

import "casella/internal/store"

// watcher is one Watch channel; it holds at most one pending value, so
// changes coalesce and notify never blocks.
type watcher struct {
	ch chan struct{}
}

// Watch returns a channel that receives a value after committed changes to
// the account made through this Store. Changes made by another process on
// the same file are not seen until this Store changes the account too.
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

// notify wakes the account's watchers; called after a commit.
func (s *Store) notify(acct store.Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers[acct] {
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
}
