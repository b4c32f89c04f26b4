package faults

import (
	"bytes"
	"context"
	"fmt"

	"casella/internal/blob"
)

// Blobs returns a blob.Store that passes every call to inner unless inj
// holds a fault for TargetBlob.
func Blobs(inner blob.Store, inj *Injector) blob.Store {
	return &blobs{inner: inner, inj: inj}
}

type blobs struct {
	inner blob.Store
	inj   *Injector
}

func (b *blobs) Put(ctx context.Context, data []byte) (blob.Key, error) {
	if err := b.inj.check(ctx, TargetBlob, write); err != nil {
		return "", fmt.Errorf("put blob: %w", err)
	}
	return b.inner.Put(ctx, data)
}

func (b *blobs) Get(ctx context.Context, key blob.Key) ([]byte, error) {
	if err := b.inj.check(ctx, TargetBlob, read); err != nil {
		return nil, fmt.Errorf("get blob %s: %w", key, err)
	}
	data, err := b.inner.Get(ctx, key)
	if err != nil || b.inj.Current(TargetBlob) != Corrupt {
		return data, err
	}
	// The backend hands back wrong bytes; the check every reader makes
	// catches them. The flip works on a copy, in case inner shares its
	// slices with a cache.
	data = bytes.Clone(data)
	if len(data) == 0 {
		data = []byte{0}
	} else {
		data[len(data)/2] ^= 0x20
	}
	return nil, fmt.Errorf("%w: %w", ErrInjected, blob.Verify(key, data))
}

func (b *blobs) Stat(ctx context.Context, key blob.Key) (blob.Info, error) {
	if err := b.inj.check(ctx, TargetBlob, read); err != nil {
		return blob.Info{}, fmt.Errorf("stat blob %s: %w", key, err)
	}
	return b.inner.Stat(ctx, key)
}

func (b *blobs) Delete(ctx context.Context, key blob.Key) error {
	if err := b.inj.check(ctx, TargetBlob, write); err != nil {
		return fmt.Errorf("delete blob %s: %w", key, err)
	}
	return b.inner.Delete(ctx, key)
}

func (b *blobs) Walk(ctx context.Context, after blob.Key, fn func(blob.Info) error) error {
	if err := b.inj.check(ctx, TargetBlob, read); err != nil {
		return fmt.Errorf("walk blobs: %w", err)
	}
	return b.inner.Walk(ctx, after, fn)
}
