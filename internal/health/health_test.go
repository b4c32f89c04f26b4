package health

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

func TestMonitor(t *testing.T) {
	m := NewMonitor(slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.Timeout = 50 * time.Millisecond
	var fail error
	m.Add("store", func(context.Context) error { return fail })
	m.Add("hung", func(ctx context.Context) error { select {} })

	ctx := context.Background()
	m.ProbeAll(ctx)
	if !m.Up("store") {
		t.Fatal("store down while probe succeeds")
	}
	if m.Up("hung") {
		t.Fatal("a probe that never answers must report the component down")
	}

	fail = errors.New("disk on fire")
	m.ProbeAll(ctx)
	states := m.States()
	if len(states) != 2 || states[1].Name != "store" || states[1].Up || states[1].Error != "disk on fire" {
		t.Fatalf("states = %+v", states)
	}
	down := states[1].Since

	fail = nil
	m.ProbeAll(ctx)
	if s := m.States()[1]; !s.Up || s.Error != "" || !s.Since.After(down) {
		t.Fatalf("after recovery: %+v", s)
	}
}
