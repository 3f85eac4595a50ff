package token

import (
	"context"
	"maps"
	"slices"

	"github.com/ajwt/ajwt/internal/boundedmap"
)

// WithCache remembers up to n tokens that verified, keyed by their exact
// bytes, so that a token presented again skips parsing and the signature
// check: a resource server sees the same token on every request of a
// step, each with a fresh DPoP proof. n ≤ 0 disables the cache (default).
//
// A cached token is not trusted blindly. Every hit runs again what can
// change between two requests: the time checks (exp, nbf, iat against the
// clock and leeway) and the key lookup (a kid removed from the key source
// refuses the token, as an uncached verify would). The signature and every
// other claim check depend on the bytes alone, which are the map key. Hits
// return a deep copy, so a caller editing its claims cannot change what
// the next request sees. When full, an arbitrary entry makes room.
func WithCache(n int) VerifierOption {
	return func(v *Verifier) error {
		if n > 0 {
			v.cache = boundedmap.New[string, cachedToken](n)
		}
		return nil
	}
}

type cachedToken struct {
	claims   *Claims
	kid, alg string
}

// cached answers Verify from the cache; ok is false on a miss.
func (v *Verifier) cached(ctx context.Context, raw string) (claims *Claims, ok bool, err error) {
	e, hit := v.cache.Get(raw)
	if !hit {
		return nil, false, nil
	}
	if _, err := v.lookupKey(ctx, e.kid, e.alg); err != nil {
		v.cache.Delete(raw)
		return nil, true, err
	}
	if err := v.checkTimes(e.claims); err != nil {
		v.cache.Delete(raw) // expired for good, or early: verified afresh when due
		return nil, true, err
	}
	return e.claims.clone(), true, nil
}

// clone copies c deeply: slices, map and the pointed-to structs.
func (c *Claims) clone() *Claims {
	out := *c
	out.Audience = slices.Clone(c.Audience)
	if c.Cnf != nil {
		cnf := *c.Cnf
		out.Cnf = &cnf
	}
	if c.AgentProof != nil {
		ap := *c.AgentProof
		out.AgentProof = &ap
	}
	if c.Intent != nil {
		in := *c.Intent
		in.DelegationChain = slices.Clone(c.Intent.DelegationChain)
		in.CompletedSteps = slices.Clone(c.Intent.CompletedSteps)
		in.ExecutionContext = maps.Clone(c.Intent.ExecutionContext)
		out.Intent = &in
	}
	return &out
}
