package loadgen

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"casella/internal/config"
)

// SizeRange is a range of message sizes in bytes; messages are drawn from
// it uniformly.
type SizeRange struct{ Min, Max int }

// ParseSizeRange parses "5KB-50KB", or a single size like "10KiB", with the
// units of the configuration file.
func ParseSizeRange(s string) (SizeRange, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	min, err := config.ParseSize(lo)
	if err != nil {
		return SizeRange{}, err
	}
	max, err := config.ParseSize(hi)
	if err != nil {
		return SizeRange{}, err
	}
	r := SizeRange{int(min), int(max)}
	if r.Min < 1 || r.Max < r.Min {
		return SizeRange{}, fmt.Errorf("invalid size range %q: write a size like 10KB or a range like 5KB-50KB, smallest first", s)
	}
	return r, nil
}

// String formats r as ParseSizeRange reads it.
func (r SizeRange) String() string {
	if r.Min == r.Max {
		return formatSize(r.Min)
	}
	return formatSize(r.Min) + "-" + formatSize(r.Max)
}

// formatSize writes n bytes with the largest unit that divides it.
func formatSize(n int) string {
	for _, u := range []struct {
		name string
		mult int
	}{{"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"KB", 1e3}} {
		if n%u.mult == 0 {
			return fmt.Sprintf("%d%s", n/u.mult, u.name)
		}
	}
	return fmt.Sprintf("%dB", n)
}

// pick draws a size.
func (r SizeRange) pick(rnd *rand.Rand) int {
	return r.Min + rnd.IntN(r.Max-r.Min+1)
}
