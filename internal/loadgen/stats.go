package loadgen

import (
	"slices"
	"sync"
	"time"
)

// Stat is what a run measured of one operation.
type Stat struct {
	Op        string  `json:"op"`
	Count     int     `json:"count"` // successes
	Errors    int     `json:"errors"`
	PerSecond float64 `json:"per_second"` // successes per second of the run
	Mean      float64 `json:"mean_ms"`
	P50       float64 `json:"p50_ms"`
	P99       float64 `json:"p99_ms"`
	Max       float64 `json:"max_ms"`
}

// recorder collects latencies and errors by operation, from many
// goroutines.
type recorder struct {
	mu      sync.Mutex
	order   []string // operations in the order first seen
	samples map[string][]time.Duration
	errors  map[string]int
	total   int
}

func newRecorder(ops ...string) *recorder {
	r := &recorder{samples: map[string][]time.Duration{}, errors: map[string]int{}}
	for _, op := range ops {
		r.see(op)
	}
	return r
}

func (r *recorder) see(op string) {
	if _, ok := r.samples[op]; !ok {
		r.samples[op] = nil
		r.order = append(r.order, op)
	}
}

// observe records a success of op that took d.
func (r *recorder) observe(op string, d time.Duration) {
	r.mu.Lock()
	r.see(op)
	r.samples[op] = append(r.samples[op], d)
	r.total++
	r.mu.Unlock()
}

// fail records a failure of op.
func (r *recorder) fail(op string) {
	r.mu.Lock()
	r.see(op)
	r.errors[op]++
	r.mu.Unlock()
}

// counts returns the successes and failures so far, over all operations.
func (r *recorder) counts() (ok, failed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.errors {
		failed += n
	}
	return r.total, failed
}

// stats returns one Stat per operation, rates over elapsed.
func (r *recorder) stats(elapsed time.Duration) []Stat {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Stat, 0, len(r.order))
	for _, op := range r.order {
		out = append(out, summarize(op, r.samples[op], r.errors[op], elapsed))
	}
	return out
}

// summarize computes the Stat of samples; it sorts samples.
func summarize(op string, samples []time.Duration, errors int, elapsed time.Duration) Stat {
	slices.Sort(samples)
	s := Stat{Op: op, Count: len(samples), Errors: errors}
	if elapsed > 0 {
		s.PerSecond = float64(len(samples)) / elapsed.Seconds()
	}
	if len(samples) > 0 {
		var sum time.Duration
		for _, d := range samples {
			sum += d
		}
		s.Mean = millis(sum / time.Duration(len(samples)))
		s.P50 = millis(percentile(samples, 50))
		s.P99 = millis(percentile(samples, 99))
		s.Max = millis(samples[len(samples)-1])
	}
	return s
}

// percentile returns the nearest-rank p-th percentile of sorted samples,
// which must not be empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
