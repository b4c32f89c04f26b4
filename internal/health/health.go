// Package health watches the components a server depends on — the
// directory, the mailbox store, the blob store, the spool — and keeps their
// current state for /readyz, the metrics, the JSON status endpoint and the
// banners that tell users what is happening (DESIGN.md invariant 8).
//
// Implementation notes:
//   - A probe that does not answer within its timeout counts as down: a hung
//     store must show as down, not leave the status stale.
//   - State changes are logged once, not on every probe.
package health

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Probe checks one component; nil means it works.
type Probe func(ctx context.Context) error

// State is a component's last observed state.
type State struct {
	Name  string    `json:"name"`
	Up    bool      `json:"up"`
	Error string    `json:"error,omitempty"`
	Since time.Time `json:"since"` // when it entered this state
	Check time.Time `json:"checked"`
}

// Monitor probes components periodically.
type Monitor struct {
	Interval time.Duration // between probes; default 2s
	Timeout  time.Duration // for one probe; default 2s
	Logger   *slog.Logger

	mu     sync.Mutex
	probes map[string]Probe
	states map[string]State
}

// NewMonitor returns a monitor with the default interval and timeout.
func NewMonitor(logger *slog.Logger) *Monitor {
	return &Monitor{
		Interval: 2 * time.Second,
		Timeout:  2 * time.Second,
		Logger:   logger,
		probes:   map[string]Probe{},
		states:   map[string]State{},
	}
}

// Add registers a probe under name. Until its first probe a component is
// reported up.
func (m *Monitor) Add(name string, p Probe) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.probes[name] = p
	m.states[name] = State{Name: name, Up: true, Since: time.Now()}
}

// Run probes every component each Interval until ctx is done.
func (m *Monitor) Run(ctx context.Context) {
	t := time.NewTicker(m.Interval)
	defer t.Stop()
	for {
		m.ProbeAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ProbeAll runs every probe once, concurrently, and records the results.
func (m *Monitor) ProbeAll(ctx context.Context) {
	m.mu.Lock()
	probes := make(map[string]Probe, len(m.probes))
	for k, v := range m.probes {
		probes[k] = v
	}
	m.mu.Unlock()

	var wg sync.WaitGroup
	for name, p := range probes {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, m.Timeout)
			defer cancel()
			err := run(pctx, p)
			if ctx.Err() != nil {
				return
			}
			m.record(name, err)
		})
	}
	wg.Wait()
}

// run calls p but gives up when ctx is done even if p ignores ctx, so a
// probe stuck in a hung call still reports the component down.
func run(ctx context.Context, p Probe) error {
	done := make(chan error, 1)
	go func() { done <- p(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Monitor) record(name string, err error) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.states[name]
	up := err == nil
	if up != s.Up {
		s.Since = now
		if up {
			m.Logger.Info("component recovered", "component", name)
		} else {
			m.Logger.Error("component down", "component", name, "err", err)
		}
	}
	s.Up = up
	s.Error = ""
	if err != nil {
		s.Error = err.Error()
	}
	s.Check = now
	m.states[name] = s
}

// States returns every component's state, sorted by name.
func (m *Monitor) States() []State {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := make([]State, 0, len(m.states))
	for _, s := range m.states {
		l = append(l, s)
	}
	sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name })
	return l
}

// Up reports whether the named component was up at its last probe.
func (m *Monitor) Up(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.states[name].Up
}
