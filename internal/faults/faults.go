// Package faults injects storage failures into a running server, for tests,
// fault drills and the `casella fault inject|clear` command. An Injector
// holds the current fault of each target; the Store and Blobs wrappers
// consult it on every call and fail the way a broken backend would.
//
// Implementation notes:
//   - Injected failures must look like real ones to the code above them:
//     a failing mailbox store returns errors wrapping store.ErrUnavailable,
//     a full disk wraps syscall.ENOSPC, a read-only one syscall.EROFS, so
//     the same error handling runs in a drill as in an outage. Every
//     injected error also wraps ErrInjected, so logs and tests can tell.
//   - A corrupt blob backend is modelled as the backend handing back wrong
//     bytes; the wrapper then verifies them as every reader does and
//     returns the *blob.CorruptError. Wrong bytes never leave the wrapper.
//   - A hung call waits for its context, or for the fault to change:
//     clearing a hang releases the calls it holds, as a backend that comes
//     back would.
//   - The HTTP handler changes a live server's behaviour; it is mounted
//     only on the admin listener and only when the server was started with
//     faults explicitly allowed.
package faults

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Targets of fault injection.
const (
	TargetStore = "store" // the mailbox store
	TargetBlob  = "blob"  // the blob store
)

// ErrInjected is wrapped by every error that an injected fault causes.
var ErrInjected = errors.New("injected fault")

// Fault is a kind of failure.
type Fault int

// Faults. Reads are calls that change nothing (Get, Stat, Walk; Mailboxes,
// Messages, ...); all other calls except Watch and Close are writes.
const (
	None     Fault = iota
	Error          // every call fails with an I/O error
	Hang           // every call blocks until its context is done
	Corrupt        // blob reads find content that does not match its key
	ReadOnly       // writes fail with EROFS; reads work
	NoSpace        // writes fail with ENOSPC; reads work
)

var faultNames = [...]string{
	None:     "none",
	Error:    "error",
	Hang:     "hang",
	Corrupt:  "corrupt",
	ReadOnly: "readonly",
	NoSpace:  "nospace",
}

// String returns the fault's name as Parse accepts it.
func (f Fault) String() string {
	if f < 0 || int(f) >= len(faultNames) {
		return fmt.Sprintf("fault(%d)", int(f))
	}
	return faultNames[f]
}

// Parse returns the fault named by word: none, error, hang, corrupt,
// readonly or nospace, in any case.
func Parse(word string) (Fault, error) {
	i := slices.Index(faultNames[:], strings.ToLower(strings.TrimSpace(word)))
	if i < 0 {
		return None, fmt.Errorf("unknown fault %q: want one of %s", word, strings.Join(faultNames[:], ", "))
	}
	return Fault(i), nil
}

// MarshalText encodes the fault as its name, for JSON.
func (f Fault) MarshalText() ([]byte, error) {
	if f < 0 || int(f) >= len(faultNames) {
		return nil, fmt.Errorf("unknown fault %d", int(f))
	}
	return []byte(f.String()), nil
}

// UnmarshalText decodes a fault name.
func (f *Fault) UnmarshalText(text []byte) error {
	v, err := Parse(string(text))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// Injector holds the current fault of each target. It is safe for
// concurrent use.
type Injector struct {
	log  *slog.Logger
	hung atomic.Int64 // calls currently held by a hang

	mu      sync.Mutex
	faults  map[string]Fault
	changed chan struct{} // closed and replaced at every change
}

// New returns an Injector with no fault set. Changes are logged to log, or
// nowhere when log is nil.
func New(log *slog.Logger) *Injector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Injector{log: log, faults: map[string]Fault{}, changed: make(chan struct{})}
}

// Set sets the fault of a target; None clears it.
func (inj *Injector) Set(target string, f Fault) error {
	if target != TargetStore && target != TargetBlob {
		return fmt.Errorf("unknown fault target %q: want %s or %s", target, TargetStore, TargetBlob)
	}
	if f < 0 || int(f) >= len(faultNames) {
		return fmt.Errorf("unknown fault %d", int(f))
	}
	if f == Corrupt && target != TargetBlob {
		return fmt.Errorf("fault %s applies to the %s target only", f, TargetBlob)
	}
	inj.mu.Lock()
	if f == None {
		delete(inj.faults, target)
	} else {
		inj.faults[target] = f
	}
	inj.notifyLocked()
	inj.mu.Unlock()
	if f == None {
		inj.log.Warn("injected fault cleared", "target", target)
	} else {
		inj.log.Warn("fault injected", "target", target, "fault", f.String())
	}
	return nil
}

// Clear removes the faults of all targets.
func (inj *Injector) Clear() {
	inj.mu.Lock()
	clear(inj.faults)
	inj.notifyLocked()
	inj.mu.Unlock()
	inj.log.Warn("injected faults cleared")
}

// State returns the fault of every target, None included, for display.
func (inj *Injector) State() map[string]Fault {
	inj.mu.Lock()
	defer inj.mu.Unlock()
	return map[string]Fault{
		TargetStore: inj.faults[TargetStore],
		TargetBlob:  inj.faults[TargetBlob],
	}
}

// Current returns the fault of a target.
func (inj *Injector) Current(target string) Fault {
	f, _ := inj.current(target)
	return f
}

// Hung returns the number of calls that a hang fault holds right now.
func (inj *Injector) Hung() int {
	return int(inj.hung.Load())
}

// current returns the fault of a target and a channel closed at the next
// change.
func (inj *Injector) current(target string) (Fault, <-chan struct{}) {
	inj.mu.Lock()
	defer inj.mu.Unlock()
	return inj.faults[target], inj.changed
}

// notifyLocked wakes the calls waiting for a change. inj.mu is held.
func (inj *Injector) notifyLocked() {
	close(inj.changed)
	inj.changed = make(chan struct{})
}
