// Package dpoptest is the conformance suite every dpop.ReplayCache
// implementation runs (the in-memory cache, Redis, ...).
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

// ReplayCacheSuite checks fresh/replay, expiry, atomicity and the epoch.
// newCache returns an empty cache with room for at least 1,000 ids. Expiry
// is tested with real time (ids living about 1 s, a 2.1 s wait) so that
// caches without an injectable clock, such as Redis, run the suite
// unchanged.
func ReplayCacheSuite(t *testing.T, newCache func(t *testing.T) dpop.ReplayCache) {
	t.Run("fresh then replay", func(t *testing.T) { freshThenReplay(t, newCache(t)) })
	t.Run("expiry", func(t *testing.T) { expiry(t, newCache(t)) })
	t.Run("concurrent use of one id", func(t *testing.T) { concurrentOneID(t, newCache(t)) })
	t.Run("concurrent distinct ids", func(t *testing.T) { concurrentDistinct(t, newCache(t)) })
	t.Run("many ids", func(t *testing.T) { manyIDs(t, newCache(t)) })
	t.Run("one epoch", func(t *testing.T) { oneEpoch(t, newCache(t)) })
}

func use(t *testing.T, c dpop.ReplayCache, id string, exp time.Time, want bool) {
	t.Helper()
	fresh, _, err := c.Use(context.Background(), dpop.Entry{ID: id, Exp: exp, Owner: "owner-" + id})
	if err != nil || fresh != want {
		t.Fatalf("Use(%q) = %v, %v; want fresh = %v", id, fresh, err, want)
	}
}

// oneEpoch: a cache that keeps its data stays in one epoch, with a start
// no later than now and a nonce of at least 128 bits (22 base64url
// characters), and reports it with every use.
func oneEpoch(t *testing.T, c dpop.ReplayCache) {
	first, err := c.Epoch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if first.Start.IsZero() || first.Start.After(time.Now()) || len(first.Nonce) < 22 {
		t.Fatalf("epoch %+v", first)
	}
	for i := range 3 {
		_, e, err := c.Use(context.Background(), dpop.Entry{ID: fmt.Sprint("e-", i), Exp: time.Now().Add(time.Minute)})
		if err != nil || !e.Start.Equal(first.Start) || e.Nonce != first.Nonce {
			t.Fatalf("use %d: epoch %+v, %v; want %+v", i, e, err, first)
		}
	}
	if again, err := c.Epoch(context.Background()); err != nil || again != first {
		t.Fatalf("epoch changed: %+v, %v; want %+v", again, err, first)
	}
}

func freshThenReplay(t *testing.T, c dpop.ReplayCache) {
	exp := time.Now().Add(time.Minute)
	use(t, c, "a", exp, true)
	use(t, c, "a", exp, false)
	use(t, c, "a", exp.Add(time.Hour), false) // a later exp does not make it fresh
	use(t, c, "b", exp, true)
	use(t, c, "A", exp, true) // ids are case-sensitive
}

func expiry(t *testing.T, c dpop.ReplayCache) {
	use(t, c, "short", time.Now().Add(time.Second), true)
	use(t, c, "short", time.Now().Add(time.Second), false)
	use(t, c, "long", time.Now().Add(time.Minute), true)
	time.Sleep(2100 * time.Millisecond)
	use(t, c, "short", time.Now().Add(time.Minute), true)
	use(t, c, "long", time.Now().Add(time.Minute), false)
}

func concurrentOneID(t *testing.T, c dpop.ReplayCache) {
	var fresh, failed atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			ok, _, err := c.Use(context.Background(), dpop.Entry{ID: "race", Exp: time.Now().Add(time.Minute)})
			switch {
			case err != nil:
				failed.Add(1)
			case ok:
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	if fresh.Load() != 1 || failed.Load() != 0 {
		t.Fatalf("%d goroutines saw the id fresh and %d failed; want 1 and 0", fresh.Load(), failed.Load())
	}
}

func concurrentDistinct(t *testing.T, c dpop.ReplayCache) {
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if ok, _, err := c.Use(context.Background(), dpop.Entry{ID: fmt.Sprint("id-", i), Exp: time.Now().Add(time.Minute)}); err == nil && ok {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	if fresh.Load() != 50 {
		t.Fatalf("%d of 50 distinct ids fresh", fresh.Load())
	}
}

func manyIDs(t *testing.T, c dpop.ReplayCache) {
	exp := time.Now().Add(time.Minute)
	for i := range 1000 {
		use(t, c, fmt.Sprint("id-", i), exp, true)
	}
	for i := range 1000 {
		use(t, c, fmt.Sprint("id-", i), exp, false)
	}
}
