package cell

import (
	"context"

	"casella/internal/blob"
)

// cellBlobs is the blob store of a cell as sessions hold it: the same
// object while the cell goes down and comes back.
type cellBlobs struct{ c *Cell }

func (b cellBlobs) open() (blob.Store, error) {
	cur := b.c.cur.Load()
	if cur == nil {
		return nil, b.c.Err()
	}
	return cur.Blobs, nil
}

func (b cellBlobs) Put(ctx context.Context, data []byte) (blob.Key, error) {
	st, err := b.open()
	if err != nil {
		return "", err
	}
	return st.Put(ctx, data)
}

func (b cellBlobs) Get(ctx context.Context, key blob.Key) ([]byte, error) {
	st, err := b.open()
	if err != nil {
		return nil, err
	}
	return st.Get(ctx, key)
}

func (b cellBlobs) Stat(ctx context.Context, key blob.Key) (blob.Info, error) {
	st, err := b.open()
	if err != nil {
		return blob.Info{}, err
	}
	return st.Stat(ctx, key)
}

func (b cellBlobs) Delete(ctx context.Context, key blob.Key) error {
	st, err := b.open()
	if err != nil {
		return err
	}
	return st.Delete(ctx, key)
}

func (b cellBlobs) Walk(ctx context.Context, after blob.Key, fn func(blob.Info) error) error {
	st, err := b.open()
	if err != nil {
		return err
	}
	return st.Walk(ctx, after, fn)
}
