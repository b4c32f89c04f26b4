package replicated

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"casella/internal/blob"
	"casella/internal/faults"
)

func newScrubber(t *testing.T, st *set, opts ScrubOptions) *Scrubber {
	t.Helper()
	if opts.StateFile == "" {
		opts.StateFile = filepath.Join(t.TempDir(), "scrub.pos")
	}
	sc, err := NewScrubber(st.Store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestScrubRepairsSilentCorruption damages copies behind the store's back,
// where no read would notice until a user opens the message: one pass
// finds and fixes every one.
func TestScrubRepairsSilentCorruption(t *testing.T) {
	st := newSet(t, 2, Options{Metrics: NewMetrics(prometheus.NewRegistry())})
	var keys []blob.Key
	for i := range 12 {
		keys = append(keys, mustPut(t, st, message(100+i)))
	}
	st.damage(t, 1, keys[0], "flip")
	st.damage(t, 1, keys[1], "truncate")
	st.damage(t, 1, keys[2], "delete")
	st.damage(t, 0, keys[3], "flip")
	st.damage(t, 0, keys[4], "delete")
	// Lost on both: reported, not invented.
	st.damage(t, 0, keys[5], "flip")
	st.damage(t, 1, keys[5], "flip")

	sc := newScrubber(t, st, ScrubOptions{})
	res, err := sc.Pass(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := ScrubResult{Blobs: 12, Bad: 7, Repaired: 5, Unrecoverable: 1}
	res.Bytes = 0
	if res != want {
		t.Fatalf("scrub pass = %+v, want %+v", res, want)
	}
	for i, key := range keys {
		if i == 5 {
			continue
		}
		for r := range 2 {
			if !st.good(r, key) {
				t.Fatalf("after the scrub, replica r%d has no good copy of blob %d", r, i)
			}
		}
	}
	m := st.metrics
	if got := testutil.ToFloat64(m.scrubBad.WithLabelValues("r1", "corrupt")); got != 3 {
		t.Fatalf("corrupt copies on r1 counted %v, want 3 (flip, truncate, lost blob)", got)
	}
	if got := testutil.ToFloat64(m.scrubBad.WithLabelValues("r0", "missing")); got != 1 {
		t.Fatalf("missing copies on r0 counted %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.scrubLost); got != 1 {
		t.Fatalf("unrecoverable blobs counted %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.repairs.WithLabelValues("r1", "ok")); got != 3 {
		t.Fatalf("repairs on r1 counted %v, want 3", got)
	}

	res, err = sc.Pass(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Bad != 2 || res.Repaired != 0 || res.Unrecoverable != 1 {
		t.Fatalf("second pass = %+v, want only the lost blob's 2 bad copies", res)
	}
}

// TestScrubWrongBytesBackend scrubs with one replica's backend returning
// wrong bytes: every copy it serves counts as corrupt, and the repairs it
// accepts do not hide the fault.
func TestScrubWrongBytesBackend(t *testing.T) {
	st := newSet(t, 2, Options{})
	for i := range 3 {
		mustPut(t, st, message(200+i))
	}
	st.inject(t, 0, faults.Corrupt)
	res, err := newScrubber(t, st, ScrubOptions{}).Pass(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Bad != 3 || res.Unrecoverable != 0 {
		t.Fatalf("scrub over a lying backend = %+v, want 3 bad, none unrecoverable", res)
	}
}

// TestScrubResumes stops a slow, rate-limited pass midway: a new scrubber
// on the same state file goes on from the last key it saved, and a
// finished pass starts the next from the beginning.
func TestScrubResumes(t *testing.T) {
	st := newSet(t, 2, Options{})
	var keys []blob.Key
	for i := range 6 {
		keys = append(keys, mustPut(t, st, message(300+i)))
	}
	state := filepath.Join(t.TempDir(), "scrub.pos")
	size := int64(len(message(300))) * 2
	// Two blobs' worth of bytes per second: the pass is paced to three
	// seconds and is stopped after the first position was saved.
	sc := newScrubber(t, st, ScrubOptions{Rate: 2 * size, StateFile: state})
	ctx, cancel := context.WithTimeout(t.Context(), 1800*time.Millisecond)
	_, err := sc.Pass(ctx)
	cancel()
	if err == nil {
		t.Fatal("a pass paced to three seconds finished in less than two")
	}
	data, err := os.ReadFile(state)
	if err != nil {
		t.Fatalf("no position saved: %v", err)
	}
	pos := blob.Key(strings.TrimSpace(string(data)))
	if !pos.Valid() {
		t.Fatalf("saved position %q is not a key", pos)
	}
	remaining := 0
	for _, k := range keys {
		if k > pos {
			remaining++
		}
	}
	if remaining == 0 || remaining == len(keys) {
		t.Fatalf("position %s leaves %d of %d blobs, want a pass stopped midway", pos, remaining, len(keys))
	}

	res, err := newScrubber(t, st, ScrubOptions{StateFile: state}).Pass(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Blobs != remaining {
		t.Fatalf("resumed pass verified %d blobs, want the %d after the position", res.Blobs, remaining)
	}
	res, err = newScrubber(t, st, ScrubOptions{StateFile: state}).Pass(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Blobs != len(keys) {
		t.Fatalf("pass after a finished one verified %d blobs, want all %d", res.Blobs, len(keys))
	}
}

func TestScrubRate(t *testing.T) {
	st := newSet(t, 1, Options{})
	for i := range 4 {
		mustPut(t, st, make([]byte, 10_000+i))
	}
	start := time.Now()
	res, err := newScrubber(t, st, ScrubOptions{Rate: 40_000}).Pass(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// 40 kB at 40 kB/s: about a second, and never much less.
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("pass of %d bytes at 40000 B/s took %v", res.Bytes, d)
	}
}
