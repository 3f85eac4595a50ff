// Package dpoptest is the conformance suite every dpop.ReplayCache
// implementation runs (memory, Redis).
package dpoptest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ajwt/ajwt/dpop"
)

// ReplayCacheSuite checks fresh/replay, expiry and atomicity. Expiry uses
// real time (≤ 2 s) so that caches without an injectable clock (Redis) run
// it unchanged.
func ReplayCacheSuite(t *testing.T, newCache func(t *testing.T) dpop.ReplayCache) {
	ctx := context.Background()
	t.Run("fresh then replay", func(t *testing.T) {
		c := newCache(t)
		exp := time.Now().Add(time.Minute)
		if fresh, err := c.Use(ctx, "a", exp); err != nil || !fresh {
			t.Fatalf("first use: %v %v", fresh, err)
		}
		if fresh, err := c.Use(ctx, "a", exp); err != nil || fresh {
			t.Fatalf("second use: %v %v", fresh, err)
		}
		if fresh, _ := c.Use(ctx, "b", exp); !fresh {
			t.Fatal("another id is not fresh")
		}
	})
	t.Run("expiry", func(t *testing.T) {
		c := newCache(t)
		if fresh, _ := c.Use(ctx, "short", time.Now().Add(1100*time.Millisecond)); !fresh {
			t.Fatal("not fresh")
		}
		time.Sleep(2100 * time.Millisecond)
		if fresh, err := c.Use(ctx, "short", time.Now().Add(time.Minute)); err != nil || !fresh {
			t.Fatalf("after expiry: %v %v", fresh, err)
		}
	})
	t.Run("concurrent use of one id", func(t *testing.T) {
		c := newCache(t)
		var fresh atomic.Int32
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				if ok, err := c.Use(ctx, "race", time.Now().Add(time.Minute)); err == nil && ok {
					fresh.Add(1)
				}
			})
		}
		wg.Wait()
		if fresh.Load() != 1 {
			t.Fatalf("%d goroutines saw the id fresh, want 1", fresh.Load())
		}
	})
	t.Run("many ids", func(t *testing.T) {
		c := newCache(t)
		for i := range 1000 {
			if fresh, err := c.Use(ctx, fmt.Sprint("id-", i), time.Now().Add(time.Minute)); err != nil || !fresh {
				t.Fatalf("id %d: %v %v", i, fresh, err)
			}
		}
	})
}
