package limit

import "sync"

// Conns bounds the number of concurrent connections per key.
type Conns struct {
	max int

	mu     sync.Mutex
	active map[string]int
}

// NewConns returns a limiter that allows max concurrent connections per key;
// max <= 0 means no limit.
func NewConns(max int) *Conns {
	return &Conns{max: max, active: map[string]int{}}
}

// Acquire takes a connection slot for key. It returns false when key has
// max connections already; otherwise release must be called once when the
// connection ends.
func (c *Conns) Acquire(key string) (release func(), ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max > 0 && c.active[key] >= c.max {
		return nil, false
	}
	c.active[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.active[key]--; c.active[key] <= 0 {
				delete(c.active, key)
			}
		})
	}, true
}

// Active returns the number of connections key holds.
func (c *Conns) Active(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.active[key]
}
