package token

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// switchableKeys serves one key until it is removed.
type switchableKeys struct {
	key     jose.JSONWebKey
	removed atomic.Bool
}

func (s *switchableKeys) PublicKey(_ context.Context, kid string) (*jose.JSONWebKey, error) {
	if s.removed.Load() || kid != s.key.KeyID {
		return nil, protocol.ErrUnknownKey.WithDescription("no such key")
	}
	k := s.key
	return &k, nil
}

func cachedVerifier(t *testing.T, f *fixture, ks KeySource, now *time.Time, n int) *Verifier {
	t.Helper()
	v, err := NewVerifier(testIssuer, testAudience, ks, WithClock(func() time.Time { return *now }), WithCache(n))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestCacheRechecksTime: a token cached while valid is judged again at
// every use, with the same edges as an uncached verify.
func TestCacheRechecksTime(t *testing.T) {
	f := newFixture(t, keys.EdDSA)
	exp := t0.Add(5 * time.Minute)
	plain := f.mint(t, legacyClaims())
	withNBF := f.mint(t, mutate(legacyClaims(), func(c *Claims) { c.NotBefore = t0.Add(time.Minute).Unix() }))
	leeway := protocol.DefaultLeeway
	tests := []struct {
		name      string
		raw       string
		cachedAt  time.Time
		now       time.Time
		want      *protocol.Error
		stillThen bool // cached entry kept after the check
	}{
		{"valid again", plain, t0, t0.Add(time.Minute), nil, true},
		{"exp + leeway − 1 s", plain, t0, exp.Add(leeway - time.Second), nil, true},
		{"exp + leeway", plain, t0, exp.Add(leeway), protocol.ErrExpired, false},
		{"back before nbf", withNBF, t0.Add(time.Minute), t0.Add(time.Minute - leeway - time.Second), protocol.ErrNotYetValid, false},
	}
	ks, _ := NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{f.key.Public()}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.cachedAt
			v := cachedVerifier(t, f, ks, &now, 8)
			if _, err := v.Verify(context.Background(), tt.raw); err != nil {
				t.Fatal(err)
			}
			now = tt.now
			_, err := v.Verify(context.Background(), tt.raw)
			if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if _, kept := v.cache.Get(tt.raw); kept != tt.stillThen {
				t.Fatalf("entry kept = %v, want %v", kept, tt.stillThen)
			}
		})
	}
}

// TestCacheKeyRemoved: once its kid is gone from the key source, a cached
// token is refused exactly as an uncached one would be.
func TestCacheKeyRemoved(t *testing.T) {
	f := newFixture(t, keys.ES256)
	raw := f.mint(t, intentClaims())
	ks := &switchableKeys{key: f.key.Public()}
	now := t0
	v := cachedVerifier(t, f, ks, &now, 8)
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	ks.removed.Store(true)
	if _, err := v.Verify(context.Background(), raw); !errors.Is(err, protocol.ErrUnknownKey) {
		t.Fatalf("err = %v, want unknown_key", err)
	}
}

// TestCacheReturnsCopies: editing returned claims changes nothing for the
// next request with the same token.
func TestCacheReturnsCopies(t *testing.T) {
	f := newFixture(t, keys.EdDSA)
	raw := f.mint(t, intentClaims())
	ks, _ := NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{f.key.Public()}})
	now := t0
	v := cachedVerifier(t, f, ks, &now, 8)
	first, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	want := first.clone()
	for range 2 { // the miss's claims, then a hit's
		first.Audience[0], first.Cnf.JKT, first.AgentProof.Version = "x", "x", 99
		first.Intent.DelegationChain[0], first.Intent.CompletedSteps[0] = "x", "x"
		first.Intent.ExecutionContext["repo"] = "evil/repo"
		got, err := v.Verify(context.Background(), raw)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("cached claims changed: %+v %v", got, err)
		}
		first = got
	}
}

// TestCacheBoundedAndRefusalsUncached: the cache never exceeds its size,
// and a token that fails verification is never cached, however often it
// is presented.
func TestCacheBoundedAndRefusalsUncached(t *testing.T) {
	f := newFixture(t, keys.EdDSA)
	ks, _ := NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{f.key.Public()}})
	now := t0
	v := cachedVerifier(t, f, ks, &now, 2)
	for _, id := range []string{"a", "b", "c", "d"} {
		if _, err := v.Verify(context.Background(), f.mint(t, mutate(legacyClaims(), func(c *Claims) { c.ID = id }))); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.cache.Len(); n != 2 {
		t.Fatalf("%d entries, want 2", n)
	}
	good := f.mint(t, legacyClaims())
	pos := len(good) - 10 // inside the signature, whatever its length
	swap := byte('A')
	if good[pos] == 'A' {
		swap = 'B'
	}
	forged := good[:pos] + string(swap) + good[pos+1:] // signature altered, always
	for range 2 {
		if _, err := v.Verify(context.Background(), forged); !errors.Is(err, protocol.ErrBadSignature) && !errors.Is(err, protocol.ErrMalformedToken) {
			t.Fatalf("forged token: %v", err)
		}
	}
	if _, cached := v.cache.Get(forged); cached {
		t.Fatal("a refused token was cached")
	}
}

// BenchmarkVerifyCached is the enforcer's common case: the same token on
// every request of a step.
func BenchmarkVerifyCached(b *testing.B) {
	f := newFixture(b, keys.ES256)
	raw := f.mint(b, intentClaims())
	ks, _ := NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{f.key.Public()}})
	v, _ := NewVerifier(testIssuer, testAudience, ks, WithClock(func() time.Time { return t0 }), WithCache(1024))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), raw); err != nil {
			b.Fatal(err)
		}
	}
}
