package store

import (
	"math"
	"slices"
)

// NormalizeUIDs returns the ranges sorted, merged and with explicit ends:
// a range with Last 0 ("to the end") gets Last math.MaxUint32, a reversed
// range is turned around (RFC 9051 section 9, seq-range "4:2" is "2:4"),
// and First 0 becomes 1 because UIDs start at 1. Nil stays nil, meaning
// all; an empty, non-nil list stays empty, meaning none.
func NormalizeUIDs(ranges []UIDRange) []UIDRange {
	if ranges == nil {
		return nil
	}
	if len(ranges) == 0 {
		return []UIDRange{}
	}
	l := make([]UIDRange, 0, len(ranges))
	for _, r := range ranges {
		if r.Last == 0 {
			r.Last = math.MaxUint32
		}
		if r.First > r.Last {
			r.First, r.Last = r.Last, r.First
		}
		if r.First == 0 {
			r.First = 1
		}
		l = append(l, r)
	}
	slices.SortFunc(l, func(a, b UIDRange) int {
		switch {
		case a.First < b.First:
			return -1
		case a.First > b.First:
			return 1
		}
		return 0
	})
	out := l[:1]
	for _, r := range l[1:] {
		last := &out[len(out)-1]
		if last.Last == math.MaxUint32 || r.First <= last.Last+1 {
			last.Last = max(last.Last, r.Last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// UIDRanges turns ascending UIDs into ranges, merging consecutive and
// repeated numbers. Callers must not pass an empty list: the nil it
// returns selects every message of a mailbox.
func UIDRanges(uids []uint32) []UIDRange {
	var r []UIDRange
	for _, u := range uids {
		if n := len(r); n > 0 && u <= r[n-1].Last+1 {
			r[n-1].Last = max(r[n-1].Last, u)
			continue
		}
		r = append(r, UIDRange{First: u, Last: u})
	}
	return r
}

// ContainsUID reports whether uid is in ranges; nil ranges contain every
// UID. The ranges need not be normalized.
func ContainsUID(ranges []UIDRange, uid uint32) bool {
	if ranges == nil {
		return true
	}
	for _, r := range ranges {
		first, last := r.First, r.Last
		if last == 0 {
			last = math.MaxUint32
		}
		if first > last {
			first, last = last, first
		}
		if first <= uid && uid <= last {
			return true
		}
	}
	return false
}
