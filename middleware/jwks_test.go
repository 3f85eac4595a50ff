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
		ks.waitFetch()
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

// waitFetch waits for the background fetch, if one runs.
func (s *RemoteKeySet) waitFetch() {
	s.mu.RLock()
	done := s.inflight
	s.mu.RUnlock()
	if done != nil {
		<-done
	}
}

// hungIdP serves the JWKS until hang is called; from then on every request
// blocks until the test ends, as a SIGSTOPped IdP does.
type hungIdP struct {
	*jwksServer
	hung    atomic.Bool
	release chan struct{}
	entered chan struct{}
}

func newHungIdP(t *testing.T, keys ...jose.JSONWebKey) *hungIdP {
	h := &hungIdP{release: make(chan struct{}), entered: make(chan struct{}, 100)}
	h.jwksServer = &jwksServer{set: jose.JSONWebKeySet{Keys: keys}, maxAge: "max-age=60"}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		if h.hung.Load() {
			h.entered <- struct{}{}
			select {
			case <-h.release:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Cache-Control", h.maxAge)
		json.NewEncoder(w).Encode(h.set)
	}))
	t.Cleanup(func() { close(h.release); h.srv.Close() })
	return h
}

// returnsWhileHung fails the test if f does not return while the IdP still
// hangs. The bound only detects a freeze; it measures nothing.
func returnsWhileHung(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s froze behind the hung IdP", what)
	}
}

func TestRemoteKeySetHungIdP(t *testing.T) {
	k1, _ := keys.Generate(keys.ES256, nil)
	h := newHungIdP(t, k1.Public())
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	ks := NewRemoteKeySet(h.srv.URL, h.srv.Client(), clock)
	ks.FetchTimeout = time.Minute // longer than the test: only the design may keep it from freezing
	ks.UnknownKeyWait = 50 * time.Millisecond
	ctx := context.Background()
	if _, err := ks.PublicKey(ctx, k1.KeyID()); err != nil {
		t.Fatal(err)
	}
	h.hung.Store(true)
	advance(time.Hour) // the cached set is long past its max-age

	returnsWhileHung(t, "a known kid past max-age", func() {
		if _, err := ks.PublicKey(ctx, k1.KeyID()); err != nil {
			t.Errorf("known kid: %v", err)
		}
	})
	<-h.entered // the background renewal reached the hung IdP and is stuck there
	returnsWhileHung(t, "a known kid during a hung fetch", func() {
		for range 100 {
			if _, err := ks.PublicKey(ctx, k1.KeyID()); err != nil {
				t.Errorf("known kid: %v", err)
			}
		}
	})
	returnsWhileHung(t, "unknown kids during a hung fetch", func() {
		for range 20 {
			if _, err := ks.PublicKey(ctx, "random-kid"); !errors.Is(err, protocol.ErrUnknownKey) {
				t.Errorf("unknown kid: %v", err)
			}
		}
	})
	if n := h.requests.Load(); n != 2 {
		t.Errorf("%d JWKS requests, want 2: a hung fetch is joined, never repeated", n)
	}
}

func TestRemoteKeySetUnknownKidWaitIsBounded(t *testing.T) {
	k1, _ := keys.Generate(keys.ES256, nil)
	h := newHungIdP(t, k1.Public())
	h.hung.Store(true)
	ks := NewRemoteKeySet(h.srv.URL, h.srv.Client(), time.Now)
	ks.FetchTimeout = time.Minute
	ks.UnknownKeyWait = 50 * time.Millisecond
	returnsWhileHung(t, "the first lookup against a hung IdP", func() {
		if _, err := ks.PublicKey(context.Background(), k1.KeyID()); !errors.Is(err, protocol.ErrUnknownKey) {
			t.Errorf("err = %v, want ErrUnknownKey", err)
		}
	})
}

func TestRemoteKeySetHealth(t *testing.T) {
	k1, _ := keys.Generate(keys.ES256, nil)
	j := newJWKSServer(t, k1.Public())
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ks := NewRemoteKeySet(j.srv.URL, j.srv.Client(), clock)
	if h := ks.Health(); h.Keys != 0 || !h.LastSuccess.IsZero() || h.Failures != 0 {
		t.Fatalf("before any fetch: %+v", h)
	}
	if _, err := ks.PublicKey(context.Background(), k1.KeyID()); err != nil {
		t.Fatal(err)
	}
	if h := ks.Health(); h.Keys != 1 || !h.LastSuccess.Equal(now) || h.Failures != 0 {
		t.Fatalf("after a fetch: %+v", h)
	}
	j.mu.Lock()
	j.down = true
	j.mu.Unlock()
	mu.Lock()
	now = now.Add(minRefresh)
	mu.Unlock()
	ks.PublicKey(context.Background(), "unknown")
	if h := ks.Health(); h.Keys != 1 || h.Failures != 1 || h.LastSuccess.Equal(now) {
		t.Fatalf("after a failed fetch: %+v", h)
	}
}
