package dpop

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ajwt/ajwt/protocol"
)

// ReplayCache remembers single-use identifiers.
type ReplayCache interface {
	// Use records id until exp and reports false if it was already
	// recorded (a replay). An id counts as recorded while now < exp.
	// Implementations are safe for concurrent use and atomic: of any
	// number of concurrent calls with one id, exactly one sees it fresh.
	Use(ctx context.Context, id string, exp time.Time) (fresh bool, err error)
}

// checkReplay is the last check. The cache key hashes the key thumbprint
// with the jti, so one client can never burn another's jti and the cache
// holds a fixed-size key whatever the jti (RFC 9449 §11.1). The entry lives
// one second past the last instant the proof is acceptable (iat + window):
// "recorded while now < exp" would otherwise free it at that very instant.
func (v *Verifier) checkReplay(ctx context.Context, p *Proof) error {
	h := sha256.Sum256([]byte(p.JKT + "\x00" + p.JTI))
	fresh, err := v.cache.Use(ctx, "dpop:"+hex.EncodeToString(h[:]), p.IssuedAt.Add(v.window+time.Second))
	if err != nil {
		return fmt.Errorf("dpop: replay check: %w", err)
	}
	if !fresh {
		return protocol.ErrReplayedProof.WithDescription("proof already used")
	}
	return nil
}

// ErrCacheFull is returned when every slot of a MemoryReplayCache holds an
// unexpired id. Evicting one would reopen its replay window, so the cache
// fails closed: the request is refused until entries expire.
var ErrCacheFull = errors.New("dpop: replay cache full")

// DefaultReplayCacheSize is the capacity NewMemoryReplayCache uses when
// asked for none: at 60 s windows, about 17,000 proofs a second.
const DefaultReplayCacheSize = 1 << 20

// MemoryReplayCache is a bounded in-process ReplayCache: at most
// maxEntries ids, kept in a min-heap by expiry so that dropping expired ids
// costs O(log n) each and memory stays flat under a flood of unique ids.
type MemoryReplayCache struct {
	max int
	now func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time
	exp  expiryHeap
}

// NewMemoryReplayCache makes a cache holding at most maxEntries ids
// (DefaultReplayCacheSize when maxEntries < 1); a nil clock means time.Now.
func NewMemoryReplayCache(maxEntries int, clock func() time.Time) *MemoryReplayCache {
	if maxEntries < 1 {
		maxEntries = DefaultReplayCacheSize
	}
	if clock == nil {
		clock = time.Now
	}
	return &MemoryReplayCache{max: maxEntries, now: clock, seen: map[string]time.Time{}}
}

// Use implements ReplayCache. It drops expired ids first and returns
// ErrCacheFull when the cache is full of unexpired ones.
func (c *MemoryReplayCache) Use(_ context.Context, id string, exp time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(c.now())
	if _, ok := c.seen[id]; ok {
		return false, nil
	}
	if len(c.seen) >= c.max {
		return false, ErrCacheFull
	}
	c.seen[id] = exp
	heap.Push(&c.exp, entry{id: id, exp: exp})
	return true, nil
}

// Len is the number of ids held, expired ones not yet dropped included.
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// expire drops every id whose time has come. Each id has exactly one heap
// entry, because an id is only added when absent from seen.
func (c *MemoryReplayCache) expire(now time.Time) {
	for len(c.exp) > 0 && !now.Before(c.exp[0].exp) {
		e := heap.Pop(&c.exp).(entry)
		delete(c.seen, e.id)
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
	old[len(old)-1] = entry{} // let the id string be collected
	*h = old[:len(old)-1]
	return e
}
