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
		fresh, err := c.Use(t.Context(), s.id, now.Add(s.ttl))
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
		if fresh, err := c.Use(t.Context(), "old", now.Add(-time.Second)); !fresh || err != nil {
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
		if fresh, err := c.Use(t.Context(), fmt.Sprint(i), now.Add(5*time.Second)); !fresh || err != nil {
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
