// Package audit checks a mailbox store against its blob store, copy by
// copy: every blob a message refers to must exist and verify on every
// replica, and blobs no message refers to are listed. It is what
// `casella verify` runs (DESIGN.md invariant 4).
//
// Implementation notes:
//   - An audit reads every copy of every referenced blob, so it is as slow
//     as reading the whole store; it reports progress as it goes and stops
//     when its context is canceled.
//   - A repair only ever copies bytes that verified against their key
//     from one replica to another. A blob with no good copy anywhere is
//     reported, never rewritten.
//   - Orphans are normal for a while (a delivery Puts its blob before it
//     commits the message; garbage collection removes them after a grace
//     period), so they are listed but do not make the store unhealthy.
package audit

import (
	"context"
	"fmt"
	"time"

	"casella/internal/blob"
	"casella/internal/blob/replicated"
)

// References is what the audit needs from the mailbox store.
type References interface {
	// Blobs calls fn for every blob key that messages refer to, each once.
	Blobs(ctx context.Context, fn func(blob.Key) error) error
	// BlobReferenced reports whether any message refers to the blob.
	BlobReferenced(ctx context.Context, key blob.Key) (bool, error)
}

// Options configure an audit.
type Options struct {
	Repair bool // rewrite bad copies from a good one
	// Progress, when set, is called about once a second and at the end of
	// each phase.
	Progress func(Progress)
}

// Progress says how far an audit is.
type Progress struct {
	Phase   string // "referenced" or "orphans"
	Blobs   int    // blobs done in this phase
	Bad     int    // referenced blobs with a bad copy so far
	Orphans int
}

// Report is what an audit found.
type Report struct {
	Referenced int                  // blobs messages refer to
	Damaged    []replicated.Checked // referenced blobs with a bad copy and a good one, repaired or not
	Lost       []replicated.Checked // referenced blobs with no good copy on any replica
	Orphans    []blob.Info          // stored blobs no message refers to
}

// Healthy reports whether every referenced blob has a good copy on every
// replica now, repairs included.
func (r Report) Healthy() bool {
	if len(r.Lost) > 0 {
		return false
	}
	for _, c := range r.Damaged {
		if !c.Healthy() {
			return false
		}
	}
	return true
}

// Repaired counts the copies rewritten.
func (r Report) Repaired() int {
	n := 0
	for _, c := range r.Damaged {
		for _, cp := range c.Copies {
			if cp.Repaired {
				n++
			}
		}
	}
	return n
}

// Run audits refs against the replicas of set.
func Run(ctx context.Context, refs References, set *replicated.Store, opts Options) (Report, error) {
	var r Report
	report := progress(opts.Progress)
	err := refs.Blobs(ctx, func(key blob.Key) error {
		c, err := set.Check(ctx, key, opts.Repair)
		if err != nil {
			return err
		}
		r.Referenced++
		switch {
		case c.Good == 0:
			r.Lost = append(r.Lost, c)
		case c.Bad() > 0:
			r.Damaged = append(r.Damaged, c)
		}
		report(Progress{Phase: "referenced", Blobs: r.Referenced, Bad: len(r.Lost) + len(r.Damaged)}, false)
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("verify referenced blobs: %w", err)
	}
	report(Progress{Phase: "referenced", Blobs: r.Referenced, Bad: len(r.Lost) + len(r.Damaged)}, true)

	walked := 0
	err = set.Walk(ctx, "", func(info blob.Info) error {
		walked++
		used, err := refs.BlobReferenced(ctx, info.Key)
		if err != nil {
			return err
		}
		if !used {
			r.Orphans = append(r.Orphans, info)
		}
		report(Progress{Phase: "orphans", Blobs: walked, Orphans: len(r.Orphans)}, false)
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("look for orphaned blobs: %w", err)
	}
	report(Progress{Phase: "orphans", Blobs: walked, Orphans: len(r.Orphans)}, true)
	return r, nil
}

// progress returns a function that passes a Progress on to fn at most
// once a second, or always when final is set.
func progress(fn func(Progress)) func(p Progress, final bool) {
	var last time.Time
	return func(p Progress, final bool) {
		if fn == nil || !final && time.Since(last) < time.Second {
			return
		}
		last = time.Now()
		fn(p)
	}
}
