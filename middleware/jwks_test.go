package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// jwksServer serves a key set that tests can change or take down.
type jwksServer struct {
	mu       sync.Mutex
	set      jose.JSONWebKeySet
	down     bool
	maxAge   string
	requests atomic.Int32
	srv      *httptest.Server
}

func newJWKSServer(t *testing.T, keys ...jose.JSONWebKey) *jwksServer {
	j := &jwksServer{set: jose.JSONWebKeySet{Keys: keys}, maxAge: "max-age=300"}
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		j.requests.Add(1)
		j.mu.Lock()
		defer j.mu.Unlock()
		if j.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", j.maxAge)
		json.NewEncoder(w).Encode(j.set)
	}))
	t.Cleanup(j.srv.Close)
	return j
}

func (j *jwksServer) update(f func(*jwksServer)) { j.mu.Lock(); f(j); j.mu.Unlock() }

func TestRemoteKeySet(t *testing.T) {
	k1, _ := keys.Generate(keys.ES256, nil)
	k2, _ := keys.Generate(keys.ES256, nil)
	j := newJWKSServer(t, k1.Public())
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	ks := NewRemoteKeySet(j.srv.URL, j.srv.Client(), clock)
	ctx := context.Background()

	if _, err := ks.PublicKey(ctx, k1.KeyID()); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		ks.PublicKey(ctx, k1.KeyID())
	}
	if n := j.requests.Load(); n != 1 {
		t.Fatalf("%d fetches for a cached key, want 1", n)
	}
	t.Run("unknown kid refetches at most once per interval", func(t *testing.T) {
		for range 20 {
			if _, err := ks.PublicKey(ctx, "nope"); !errors.Is(err, protocol.ErrUnknownKey) {
				t.Fatalf("err = %v", err)
			}
		}
		advance(minRefresh)
		ks.PublicKey(ctx, "nope")
		// The first fetch was just now, so the 20 misses cause none; the
		// miss after the interval causes exactly one.
		if n := j.requests.Load(); n != 2 {
			t.Fatalf("%d fetches, want 2", n)
		}
	})
	t.Run("rotation: a new kid is found by the refetch", func(t *testing.T) {
		j.update(func(j *jwksServer) { j.set.Keys = append(j.set.Keys, k2.Public()) })
		advance(minRefresh)
		if _, err := ks.PublicKey(ctx, k2.KeyID()); err != nil {
			t.Fatalf("new key: %v", err)
		}
	})
	t.Run("Cache-Control max-age is honoured", func(t *testing.T) {
		before := j.requests.Load()
		advance(299 * time.Second)
		ks.PublicKey(ctx, k1.KeyID())
		if j.requests.Load() != before {
			t.Fatal("refetched within max-age")
		}
		advance(2 * time.Second)
		ks.PublicKey(ctx, k1.KeyID())
		if j.requests.Load() != before+1 {
			t.Fatal("did not refetch after max-age")
		}
	})
	t.Run("IdP down: cached keys keep serving", func(t *testing.T) {
		j.update(func(j *jwksServer) { j.down = true })
		advance(time.Hour)
		if _, err := ks.PublicKey(ctx, k1.KeyID()); err != nil {
			t.Fatalf("stale key not served while the IdP is down: %v", err)
		}
	})
}

func TestMaxAge(t *testing.T) {
	tests := map[string]time.Duration{
		"max-age=60": time.Minute, "public, max-age=10": 10 * time.Second, "no-store": 0, "": 0, "max-age=x": 0,
	}
	for in, want := range tests {
		if got := maxAge(in); got != want {
			t.Errorf("maxAge(%q) = %s, want %s", in, got, want)
		}
	}
}
