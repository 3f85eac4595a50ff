package dpop

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestMemoryReplayCache walks one cache of two slots through a sequence of
// uses with a fake clock.
func TestMemoryReplayCache(t *testing.T) {
	now := t0
	c := NewMemoryReplayCache(2, func() time.Time { return now })
	steps := []struct {
		name    string
		advance time.Duration
		id      string
		ttl     time.Duration
		fresh   bool
		err     error
	}{
		{"first use", 0, "a", 10 * time.Second, true, nil},
		{"replay", 0, "a", 10 * time.Second, false, nil},
		{"replay later, still within exp", 9 * time.Second, "a", 10 * time.Second, false, nil},
		{"second id", 0, "b", 10 * time.Second, true, nil},
		{"full of unexpired ids", 0, "c", 10 * time.Second, false, ErrCacheFull},
		{"a expired at exp exactly: usable again", time.Second, "a", 10 * time.Second, true, nil},
		{"b still unexpired, cache full", 0, "c", 10 * time.Second, false, ErrCacheFull},
		{"b expired: room again", 9 * time.Second, "c", 10 * time.Second, true, nil},
		{"full again: a and c unexpired", 0, "d", 10 * time.Second, false, ErrCacheFull},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		fresh, _, err := c.Use(t.Context(), Entry{ID: s.id, Exp: now.Add(s.ttl)})
		if fresh != s.fresh || !errors.Is(err, s.err) {
			t.Fatalf("%s: Use(%q) = %v, %v; want %v, %v", s.name, s.id, fresh, err, s.fresh, s.err)
		}
		if c.Len() > 2 {
			t.Fatalf("%s: %d ids held, bound 2", s.name, c.Len())
		}
	}
}

func TestMemoryReplayCachePastExpiry(t *testing.T) {
	now := t0
	c := NewMemoryReplayCache(1, func() time.Time { return now })
	// An id whose exp has passed is fresh, held until the next call, and
	// gone then: it cannot be a replay of anything still acceptable.
	for i := range 3 {
		if fresh, _, err := c.Use(t.Context(), Entry{ID: "old", Exp: now.Add(-time.Second)}); !fresh || err != nil {
			t.Fatalf("use %d: %v %v", i, fresh, err)
		}
	}
}

func TestNewMemoryReplayCacheDefaults(t *testing.T) {
	c := NewMemoryReplayCache(0, nil)
	if c.max != DefaultReplayCacheSize || c.now == nil {
		t.Fatalf("max %d, clock set %v", c.max, c.now != nil)
	}
}

// TestMemoryStaysFlat floods the cache with a million unique ids while the
// clock moves on: it never holds more than its bound and, since expired
// ids make room, never refuses one.
func TestMemoryStaysFlat(t *testing.T) {
	const bound = 1000
	now := t0
	c := NewMemoryReplayCache(bound, func() time.Time { return now })
	for i := range 1_000_000 {
		if i%100 == 0 {
			now = now.Add(time.Second)
		}
		if fresh, _, err := c.Use(t.Context(), Entry{ID: fmt.Sprint(i), Exp: now.Add(5 * time.Second), Owner: "one key"}); !fresh || err != nil {
			t.Fatalf("id %d: %v %v", i, fresh, err)
		}
		if n := c.Len(); n > bound {
			t.Fatalf("after id %d the cache holds %d ids, bound %d", i, n, bound)
		}
	}
	if n := len(c.exp); n != c.Len() {
		t.Fatalf("heap holds %d entries for %d ids", n, c.Len())
	}
}

// TestMemoryReplayCacheOwnerShare: until the cache is half full one owner
// may fill it; from then on an owner holding 1/16 of the capacity is
// refused (ErrOwnerFull) while others still get ids until the cache is
// full (ErrCacheFull, for everyone); ids without an owner count against
// no share, and an owner's expired ids give it room again.
func TestMemoryReplayCacheOwnerShare(t *testing.T) {
	now := t0
	c := NewMemoryReplayCache(64, func() time.Time { return now })
	use := func(id, owner string, ttl time.Duration) error {
		_, _, err := c.Use(t.Context(), Entry{ID: id, Exp: now.Add(ttl), Owner: owner})
		return err
	}
	for i := range 32 {
		if err := use(fmt.Sprint("a", i), "A", 10*time.Second); err != nil {
			t.Fatalf("A's id %d with the cache %d/64 full: %v", i, c.Len(), err)
		}
	}
	if err := use("a-more", "A", 10*time.Second); !errors.Is(err, ErrOwnerFull) {
		t.Fatalf("A beyond half the cache: %v", err)
	}
	for i := range 4 { // 64/16
		if err := use(fmt.Sprint("b", i), "B", 20*time.Second); err != nil {
			t.Fatalf("B's id %d: %v", i, err)
		}
	}
	if err := use("b-more", "B", 20*time.Second); !errors.Is(err, ErrOwnerFull) {
		t.Fatalf("B beyond its share: %v", err)
	}
	for i := range 28 {
		if err := use(fmt.Sprint("x", i), "", 20*time.Second); err != nil {
			t.Fatalf("id without owner %d: %v", i, err)
		}
	}
	if err := use("c0", "C", 20*time.Second); !errors.Is(err, ErrCacheFull) {
		t.Fatalf("C with the cache full: %v", err)
	}
	now = now.Add(10 * time.Second) // A's ids expire
	if err := use("a-again", "A", 10*time.Second); err != nil {
		t.Fatalf("A after its ids expired: %v", err)
	}
	if len(c.owners) != 2 || c.owners["A"] != 1 || c.owners["B"] != 4 {
		t.Fatalf("owner counts %v", c.owners)
	}
}

// TestMemoryReplayCacheEpoch: a cache's epoch is its creation; a new
// cache (a restarted process) has a later start and another nonce.
func TestMemoryReplayCacheEpoch(t *testing.T) {
	now := t0
	c := NewMemoryReplayCache(10, func() time.Time { return now })
	e, _ := c.Epoch(t.Context())
	now = now.Add(time.Minute)
	if _, used, _ := c.Use(t.Context(), Entry{ID: "x", Exp: now.Add(time.Second)}); !e.Start.Equal(t0) || used != e {
		t.Fatalf("epoch %+v, reported with a use %+v", e, used)
	}
	restarted, _ := NewMemoryReplayCache(10, func() time.Time { return now }).Epoch(t.Context())
	if !restarted.Start.Equal(now) || restarted.Nonce == e.Nonce {
		t.Fatalf("restarted %+v after %+v", restarted, e)
	}
}
