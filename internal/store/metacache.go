package store

import (
	"sync"

	"casella/internal/message"
)

// metaCacheSize bounds the metadata a MetaCache keeps: a message's is
// about a kilobyte decoded, so 8192 hold the message lists clients show of
// a few hundred mailboxes in about 8 MiB.
const metaCacheSize = 8192

// metaShards spread a MetaCache's lock: every FETCH of envelopes takes it
// once per message.
const metaShards = 16

// MetaCache keeps decoded message metadata by message ID. A message's
// metadata is written once, with the message, and its ID is never reused,
// so an entry is never stale: a message that is gone only leaves an entry
// nobody asks for, which ages out. The zero value is ready to use.
//
// Each shard holds two generations; a hit in the old one moves the entry
// to the new one, and the old one is dropped when the new one fills: a
// cheap approximation of least recently used.
type MetaCache struct {
	shards [metaShards]metaShard
}

type metaShard struct {
	mu       sync.Mutex
	cur, old map[int64]*message.Meta
}

// Get returns the metadata of message id, if the cache has it. Callers
// share it and must not change it.
func (c *MetaCache) Get(id int64) (*message.Meta, bool) {
	sh := &c.shards[uint64(id)%metaShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m, ok := sh.cur[id]
	if !ok {
		if m, ok = sh.old[id]; ok {
			sh.put(id, m)
		}
	}
	return m, ok
}

// Put keeps the metadata of message id.
func (c *MetaCache) Put(id int64, m *message.Meta) {
	sh := &c.shards[uint64(id)%metaShards]
	sh.mu.Lock()
	sh.put(id, m)
	sh.mu.Unlock()
}

// put adds an entry to the new generation, starting another when it is
// full; sh.mu is held.
func (sh *metaShard) put(id int64, m *message.Meta) {
	if len(sh.cur) >= metaCacheSize/metaShards/2 || sh.cur == nil {
		sh.old, sh.cur = sh.cur, make(map[int64]*message.Meta, metaCacheSize/metaShards/2)
	}
	sh.cur[id] = m
}
