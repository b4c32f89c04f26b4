package sqlstore

import (
	"encoding/json"
	"fmt"
	"sync"

	"casella/internal/message"
)

// metaCacheSize bounds the decoded metadata kept in memory, over all
// accounts: a message's is about a kilobyte decoded, so 8192 hold the
// message lists clients show of a few hundred mailboxes in about 8 MiB.
const metaCacheSize = 8192

// metaShards spread the cache's lock: every FETCH of envelopes takes it
// once per message.
const metaShards = 16

// metaCache keeps decoded message metadata by message ID. A message's
// metadata is written once, with the message, and its ID is never reused
// (schema.go), so an entry is never stale: a message that is gone only
// leaves an entry nobody asks for, which ages out. Decoding the JSON was
// the largest part of a FETCH of envelopes.
//
// Each shard holds two generations; a hit in the old one moves the entry
// to the new one, and the old one is dropped when the new one fills: a
// cheap approximation of least recently used.
type metaCache struct {
	shards [metaShards]metaShard
}

type metaShard struct {
	mu       sync.Mutex
	cur, old map[int64]*message.Meta
}

// decode returns the metadata of message id from its JSON, decoding it
// only when the cache does not have it. Callers share what it returns
// and must not change it.
func (c *metaCache) decode(id int64, data []byte) (*message.Meta, error) {
	sh := &c.shards[uint64(id)%metaShards]
	sh.mu.Lock()
	m, ok := sh.cur[id]
	if !ok {
		if m, ok = sh.old[id]; ok {
			sh.put(id, m)
		}
	}
	sh.mu.Unlock()
	if ok {
		return m, nil
	}
	m = new(message.Meta)
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("decode metadata: %w", err)
	}
	sh.mu.Lock()
	sh.put(id, m)
	sh.mu.Unlock()
	return m, nil
}

// put adds an entry to the new generation, starting another when it is
// full; sh.mu is held.
func (sh *metaShard) put(id int64, m *message.Meta) {
	if len(sh.cur) >= metaCacheSize/metaShards/2 || sh.cur == nil {
		sh.old, sh.cur = sh.cur, make(map[int64]*message.Meta, metaCacheSize/metaShards/2)
	}
	sh.cur[id] = m
}
