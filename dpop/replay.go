package dpop

import (
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"sync"
	"time"
)

// ReplayCache remembers single-use identifiers.
type ReplayCache interface {
	// Use records e.ID until e.Exp and reports false if it was already
	// recorded (a replay), with the epoch the cache is in. An id counts as
	// recorded while now < Exp. Implementations are safe for concurrent
	// use and atomic: of any number of concurrent calls with one id,
	// exactly one sees it fresh, and the epoch reported is the one the id
	// was recorded in.
	Use(ctx context.Context, e Entry) (fresh bool, epoch Epoch, err error)
	// Epoch reports the current epoch, starting one if there is none yet.
	Epoch(ctx context.Context) (Epoch, error)
}

// Entry is one single-use id.
type Entry struct {
	ID  string
	Exp time.Time
	// Owner is who presents the id (the proof key's thumbprint): a cache
	// under pressure may refuse an owner that holds its whole share
	// (ErrOwnerFull). "" is nobody's: it counts against no share.
	Owner string
}

// Epoch is when a replay cache's memory starts: it holds every id
// recorded since Start until the id expires, and may have forgotten any id
// recorded before (a restarted process, a Redis that lost its data).
type Epoch struct {
	Start time.Time
	// Nonce is random and made with the epoch, and so unknown before
	// Start: a proof that carries it was made after Start (RFC 9449 §8).
	Nonce string
}

// NewEpoch starts an epoch at start with a fresh random nonce.
func NewEpoch(start time.Time) Epoch {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return Epoch{Start: start, Nonce: base64.RawURLEncoding.EncodeToString(b[:])}
}

// ErrCacheFull is returned when every slot of a MemoryReplayCache holds an
// unexpired id. Evicting one would reopen its replay window, so the cache
// fails closed: the request is refused until entries expire.
var ErrCacheFull = errors.New("dpop: replay cache full")

// ErrOwnerFull is returned when a MemoryReplayCache is at least half full
// and the owner of a new id already holds its share (1/16 of the
// capacity): one key cannot crowd the others out.
var ErrOwnerFull = errors.New("dpop: replay cache share of this key used up")

// DefaultReplayCacheSize is the capacity NewMemoryReplayCache uses when
// asked for none: at 60 s windows, about 17,000 proofs a second.
const DefaultReplayCacheSize = 1 << 20

// ownerShareDivisor: under pressure an owner may hold 1/ownerShareDivisor
// of the capacity.
const ownerShareDivisor = 16

// MemoryReplayCache is a bounded in-process ReplayCache: at most
// maxEntries ids, kept in a min-heap by expiry so that dropping expired ids
// costs O(log n) each and memory stays flat under a flood of unique ids.
// Its epoch starts when it is made: a restarted process forgets every id.
type MemoryReplayCache struct {
	max   int
	share int // ids one owner may hold once the cache is half full
	now   func() time.Time
	epoch Epoch

	mu     sync.Mutex
	seen   map[string]time.Time
	owners map[string]int // ids held per owner
	exp    expiryHeap
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
	return &MemoryReplayCache{max: maxEntries, share: max(1, maxEntries/ownerShareDivisor), now: clock, epoch: NewEpoch(clock()),
		seen: map[string]time.Time{}, owners: map[string]int{}}
}

// Use implements ReplayCache. It drops expired ids first; it returns
// ErrCacheFull when the cache is full of unexpired ids, and ErrOwnerFull
// when it is at least half full and e.Owner holds its share.
func (c *MemoryReplayCache) Use(_ context.Context, e Entry) (bool, Epoch, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(c.now())
	if _, ok := c.seen[e.ID]; ok {
		return false, c.epoch, nil
	}
	if len(c.seen) >= c.max {
		return false, c.epoch, ErrCacheFull
	}
	if e.Owner != "" && len(c.seen) >= c.max/2 && c.owners[e.Owner] >= c.share {
		return false, c.epoch, ErrOwnerFull
	}
	c.seen[e.ID] = e.Exp
	if e.Owner != "" {
		c.owners[e.Owner]++
	}
	heap.Push(&c.exp, entry{id: e.ID, owner: e.Owner, exp: e.Exp})
	return true, c.epoch, nil
}

// Epoch implements ReplayCache: the cache's creation.
func (c *MemoryReplayCache) Epoch(context.Context) (Epoch, error) { return c.epoch, nil }

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
		if e.owner == "" {
			continue
		}
		if c.owners[e.owner]--; c.owners[e.owner] == 0 {
			delete(c.owners, e.owner)
		}
	}
}

type entry struct {
	id, owner string
	exp       time.Time
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
