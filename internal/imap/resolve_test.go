package imap

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// resolveByTable is how view.resolve worked before it went by intervals:
// a table of the whole view, marked by each range. It is the reference
// the interval version must agree with.
func resolveByTable(v *view, set seqSet, uid bool) []uint32 {
	n := uint32(len(v.uids))
	star := n
	if uid {
		star = v.uids[n-1]
	}
	in := make([]bool, n)
	for _, r := range set.ranges {
		first, last := r.bounds(star)
		for i, u := range v.uids {
			if uid && u >= first && u <= last || !uid && uint32(i+1) >= first && uint32(i+1) <= last {
				in[i] = true
			}
		}
	}
	var out []uint32
	for i, ok := range in {
		if ok {
			out = append(out, v.uids[i])
		}
	}
	return out
}

// TestResolveAgreesWithTable checks view.resolve against the table on
// random views and sets: overlapping, reversed, with "*", past the end.
func TestResolveAgreesWithTable(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 2000 {
		v := &view{}
		u := uint32(0)
		for range 1 + r.IntN(40) {
			u += 1 + uint32(r.IntN(4))
			v.uids = append(v.uids, u)
		}
		uid := r.IntN(2) == 0
		top := uint32(len(v.uids))
		if uid {
			top = u + 3
		}
		var set seqSet
		for range 1 + r.IntN(4) {
			pick := func() uint32 {
				if r.IntN(6) == 0 {
					return 0 // *
				}
				return 1 + uint32(r.IntN(int(top)))
			}
			set.ranges = append(set.ranges, seqRange{pick(), pick()})
		}
		got, err := v.resolve(set, uid)
		if err != nil {
			t.Fatalf("resolve(%v, uid %v) on %v: %v", set.ranges, uid, v.uids, err)
		}
		if want := resolveByTable(v, set, uid); !slices.Equal(got, want) {
			t.Fatalf("resolve(%v, uid %v) on %v = %v, want %v", set.ranges, uid, v.uids, got, want)
		}
	}
	v := &view{uids: []uint32{3, 5}}
	if _, err := v.resolve(seqSet{ranges: []seqRange{{1, 3}}}, false); err == nil {
		t.Error("sequence number 3 of 2 messages resolved")
	}
}

// TestRemoveAt checks the one-pass removal an expunge compacts the view
// with.
func TestRemoveAt(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for range 1000 {
		l := make([]uint32, r.IntN(30))
		for i := range l {
			l[i] = uint32(i + 1)
		}
		var at []int
		for i := range l {
			if r.IntN(3) == 0 {
				at = append(at, i)
			}
		}
		want := slices.DeleteFunc(slices.Clone(l), func(u uint32) bool { return slices.Contains(at, int(u-1)) })
		if got := removeAt(slices.Clone(l), at); !slices.Equal(got, want) {
			t.Fatalf("removeAt(%v, %v) = %v, want %v", l, at, got, want)
		}
	}
}

// BenchmarkResolveOne measures what a FETCH or STORE of one message costs
// the view of a 100,000-message mailbox before it reaches the store.
func BenchmarkResolveOne(b *testing.B) {
	v := &view{uids: make([]uint32, 100_000)}
	for i := range v.uids {
		v.uids[i] = uint32(2*i + 1)
	}
	for _, bc := range []struct {
		name string
		set  seqSet
		uid  bool
	}{
		{"Seq", seqSet{ranges: []seqRange{{50_000, 50_000}}}, false},
		{"UID", seqSet{ranges: []seqRange{{99_999, 99_999}}}, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if l, err := v.resolve(bc.set, bc.uid); err != nil || len(l) != 1 {
					b.Fatalf("%v, %v", l, err)
				}
			}
		})
	}
}
