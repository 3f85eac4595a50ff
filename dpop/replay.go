package dpop

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"
)

// ErrCacheFull is returned when every slot holds an unexpired id. Evicting
// one would reopen its replay window, so the cache fails closed and the
// request is refused instead.
var ErrCacheFull = errors.New("dpop: replay cache full")

// MemoryReplayCache is a bounded in-process ReplayCache: at most
// maxEntries ids, expired ones dropped first (a min-heap by expiry, so a
// flood of unique ids costs O(log n) each and memory stays flat).
type MemoryReplayCache struct {
	max int
	now func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time
	exp  expiryHeap
}

// NewMemoryReplayCache makes a cache; a nil clock means time.Now.
func NewMemoryReplayCache(maxEntries int, now func() time.Time) *MemoryReplayCache {
	if now == nil {
		now = time.Now
	}
	return &MemoryReplayCache{max: max(maxEntries, 1), now: now, seen: map[string]time.Time{}}
}

// Use implements ReplayCache.
func (c *MemoryReplayCache) Use(_ context.Context, id string, exp time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.expire(now)
	if until, ok := c.seen[id]; ok && now.Before(until) {
		return false, nil
	}
	if len(c.seen) >= c.max {
		return false, ErrCacheFull
	}
	c.seen[id] = exp
	heap.Push(&c.exp, entry{id: id, exp: exp})
	return true, nil
}

// Len is the number of remembered ids.
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func (c *MemoryReplayCache) expire(now time.Time) {
	for c.exp.Len() > 0 && !now.Before(c.exp[0].exp) {
		e := heap.Pop(&c.exp).(entry)
		if c.seen[e.id].Equal(e.exp) {
			delete(c.seen, e.id)
		}
	}
}

type entry struct {
	id  string
	exp time.Time
}

type expiryHeap []entry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].exp.Before(h[j].exp) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(entry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
