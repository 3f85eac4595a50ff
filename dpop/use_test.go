package dpop

import (
	"errors"
	"testing"
	"time"

	"github.com/ajwt/ajwt/protocol"
)

// TestCheckTakesNoEntry: Check verifies everything but the replay cache
// and records nothing; Use records the proof once; a proof Check refuses
// never reaches the cache.
func TestCheckTakesNoEntry(t *testing.T) {
	now := t0
	cache := NewMemoryReplayCache(10, func() time.Time { return now })
	v, err := NewVerifier(cache, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	key := seedKey(t, 7)
	req := Request{Proof: mustProof(t, key, "POST", api, ProofOptions{AccessToken: "tok"}), Method: "POST", URL: api, AccessToken: "tok", JKT: key.Thumbprint()}
	for range 3 {
		c, err := v.Check(req)
		if err != nil || c.JKT() != key.Thumbprint() {
			t.Fatalf("Check: %v", err)
		}
	}
	if cache.Len() != 0 {
		t.Fatalf("Check took %d entries", cache.Len())
	}
	c, _ := v.Check(req)
	if p, err := c.Use(t.Context()); err != nil || p.JKT != key.Thumbprint() {
		t.Fatalf("first Use: %v", err)
	}
	if _, err := c.Use(t.Context()); !errors.Is(err, protocol.ErrReplayedProof) {
		t.Fatalf("second Use: %v", err)
	}
	bad := req
	bad.Method = "GET"
	if _, err := v.Check(bad); !errors.Is(err, protocol.ErrWrongMethod) || cache.Len() != 1 {
		t.Fatalf("wrong method: %v, %d entries", err, cache.Len())
	}
}

func TestFutureSkew(t *testing.T) {
	now := t0
	v := newVerifier(t, &now, WithFutureSkew(5*time.Second))
	key := seedKey(t, 7)
	for _, tt := range []struct {
		name string
		iat  time.Time
		err  error
	}{
		{"a minute old", t0.Add(-time.Minute), nil},
		{"61 s old", t0.Add(-61 * time.Second), protocol.ErrStaleProof},
		{"5 s ahead", t0.Add(5 * time.Second), nil},
		{"6 s ahead", t0.Add(6 * time.Second), protocol.ErrStaleProof},
	} {
		t.Run(tt.name, func(t *testing.T) {
			proof := mustProof(t, key, "POST", api, ProofOptions{Now: tt.iat})
			if _, err := v.Verify(t.Context(), Request{Proof: proof, Method: "POST", URL: api, NoAccessToken: true, AnyKey: true}); !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
	for _, opts := range [][]Option{{WithFutureSkew(61 * time.Second)}, {WithIATWindow(time.Second), WithFutureSkew(2 * time.Second)},
		{WithFutureSkew(-time.Second)}, {WithEpochGuard(), WithNonce(fixedNonce{})}} {
		if _, err := NewVerifier(NewMemoryReplayCache(1, nil), opts...); err == nil {
			t.Fatalf("NewVerifier accepted %d options that cannot apply together", len(opts))
		}
	}
}

// TestEpochGuard: after its cache's epoch starts (a restart), a verifier
// with the guard refuses every proof it may have seen before — iat before
// the start plus the 5 s future skew — with use_dpop_nonce and the epoch's
// nonce; a proof that carries the nonce, or was made later, is accepted.
// Without the guard the same proof is accepted (the hole it closes).
func TestEpochGuard(t *testing.T) {
	start := t0
	now := start
	clock := func() time.Time { return now }
	cache := NewMemoryReplayCache(100, clock)
	epoch, _ := cache.Epoch(t.Context())
	guarded, err := NewVerifier(cache, WithClock(clock), WithFutureSkew(5*time.Second), WithEpochGuard())
	if err != nil {
		t.Fatal(err)
	}
	key := seedKey(t, 7)
	verify := func(v *Verifier, o ProofOptions) error {
		_, err := v.Verify(t.Context(), Request{Proof: mustProof(t, key, "POST", api, o), Method: "POST", URL: api, NoAccessToken: true, AnyKey: true})
		return err
	}
	now = start.Add(3 * time.Second)
	for _, tt := range []struct {
		name string
		o    ProofOptions
		ok   bool
	}{
		{"seen before the restart (iat 30 s before)", ProofOptions{Now: start.Add(-30 * time.Second)}, false},
		{"made before the restart, 5 s ahead", ProofOptions{Now: start.Add(4 * time.Second)}, false},
		{"made now, without the nonce", ProofOptions{Now: now}, false},
		{"made now, with the nonce", ProofOptions{Now: now, Nonce: epoch.Nonce}, true},
		{"old, with the nonce", ProofOptions{Now: start.Add(-30 * time.Second), Nonce: epoch.Nonce}, true},
		{"with another nonce", ProofOptions{Now: now, Nonce: "not-the-epoch's"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := verify(guarded, tt.o)
			var ne *NonceError
			switch {
			case tt.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tt.ok && (!errors.As(err, &ne) || ne.Nonce != epoch.Nonce || ne.Err.Code != protocol.CodeUseDPoPNonce ||
				ne.Err.Reason != protocol.ReasonReplayWindowReset || ne.Err.Status != 401):
				t.Fatalf("err = %v, want use_dpop_nonce with the epoch's nonce", err)
			}
		})
	}
	now = start.Add(5 * time.Second)
	if err := verify(guarded, ProofOptions{Now: now}); err != nil {
		t.Fatalf("proof made when the window closed: %v", err)
	}
	plain := newVerifier(t, &now)
	if err := verify(plain, ProofOptions{Now: start.Add(-30 * time.Second)}); err != nil {
		t.Fatalf("without the guard: %v", err)
	}
}
