package faults

import (
	"context"
	"fmt"
	"syscall"

	"casella/internal/store"
)

// op says whether a call reads or writes.
type op bool

const (
	read  op = false
	write op = true
)

// check applies the target's fault to a call before it reaches the inner
// store: it returns the call's error, or nil to let the call through. A
// hang waits here until ctx is done or the fault changes.
func (inj *Injector) check(ctx context.Context, target string, o op) error {
	for {
		f, changed := inj.current(target)
		switch {
		case f == Hang:
			if err := inj.hang(ctx, changed); err != nil {
				return fmt.Errorf("%w: %s hung until: %w", ErrInjected, target, err)
			}
			continue
		case f == Error:
			return failure(target, syscall.EIO)
		case f == ReadOnly && o == write:
			return failure(target, syscall.EROFS)
		case f == NoSpace && o == write:
			return failure(target, syscall.ENOSPC)
		}
		return nil
	}
}

// failure returns the error a broken target gives: the mailbox store's
// callers expect store.ErrUnavailable for internal failures, and both
// targets carry the system error a real failure would.
func failure(target string, errno syscall.Errno) error {
	if target == TargetStore {
		return fmt.Errorf("%w: %w: %w", ErrInjected, store.ErrUnavailable, errno)
	}
	return fmt.Errorf("%w: blob store: %w", ErrInjected, errno)
}

// hang waits until ctx is done, returning its error, or until the fault
// changes, returning nil.
func (inj *Injector) hang(ctx context.Context, changed <-chan struct{}) error {
	inj.hung.Add(1)
	defer inj.hung.Add(-1)
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-changed:
		return nil
	}
}
