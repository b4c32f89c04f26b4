package store

import (
	"testing"

	"casella/internal/message"
)

// TestMetaCache checks that the cache returns what was put, keeps an entry
// used again while others come and go, and stays within its bound.
func TestMetaCache(t *testing.T) {
	var c MetaCache
	if _, ok := c.Get(1); ok {
		t.Fatal("an empty cache has message 1")
	}
	hot := &message.Meta{Preview: "hot"}
	c.Put(1, hot)
	for id := int64(2); id < 10*metaCacheSize; id++ {
		c.Put(id, &message.Meta{})
		if id%100 == 0 {
			// Message 1 is asked for now and then, as a message list
			// shown again asks for its messages.
			if m, ok := c.Get(1); !ok || m != hot {
				t.Fatalf("message 1 lost after %d others", id)
			}
		}
	}
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].cur) + len(c.shards[i].old)
	}
	if n > metaCacheSize {
		t.Fatalf("%d entries held, bound %d", n, metaCacheSize)
	}
	if _, ok := c.Get(2); ok {
		t.Error("message 2, never asked for again, is still held")
	}
}
