package dpop

import (
	"errors"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// TestKeyCache: a key seen before is served from the cache with its
// thumbprint, but only for the alg it was checked for; a refused jwk is
// refused again however often it comes, and never cached; the cache stays
// bounded.
func TestKeyCache(t *testing.T) {
	key, other := seedKey(t, 7), seedKey(t, 8)
	now := t0
	v := newVerifier(t, &now)
	verify := func(proof string, jkt string) error {
		_, err := v.Verify(t.Context(), Request{Proof: proof, Method: "POST", URL: api, AccessToken: "tok", JKT: jkt})
		return err
	}
	for i := range 3 {
		p := mustProof(t, key, "POST", api, ProofOptions{AccessToken: "tok", JTI: strings.Repeat("j", i+1)})
		if err := verify(p, key.Thumbprint()); err != nil {
			t.Fatalf("proof %d: %v", i, err)
		}
	}
	if n := v.keys.Len(); n != 1 {
		t.Fatalf("%d cached keys after three proofs by one key, want 1", n)
	}
	// The same jwk bytes under another alg: checked afresh, refused.
	header, claims := proofJSON(t, key)
	header["alg"] = "ES256"
	if err := verify(forge(t, key, mustJSON(t, header), mustJSON(t, claims)), key.Thumbprint()); !errors.Is(err, protocol.ErrProofAlg) {
		t.Fatalf("cached key under another alg: %v", err)
	}
	// A jwk with private material: refused every time, never cached.
	header, claims = proofJSON(t, other)
	header["jwk"] = withMember(publicJWK(other), "d", "AAAA")
	for range 2 {
		if err := verify(forge(t, other, mustJSON(t, header), mustJSON(t, claims)), other.Thumbprint()); !errors.Is(err, protocol.ErrProofPrivateKey) {
			t.Fatalf("private jwk: %v", err)
		}
	}
	if n := v.keys.Len(); n != 1 {
		t.Fatalf("%d cached keys, want 1 (refused keys are not cached)", n)
	}
	for range maxCachedKeys + 10 {
		k, _ := keys.Generate(keys.EdDSA, nil)
		v.keys.Put("EdDSA\x00"+k.Thumbprint(), cachedKey{jkt: k.Thumbprint()})
	}
	if n := v.keys.Len(); n != maxCachedKeys {
		t.Fatalf("%d cached keys, want the bound %d", n, maxCachedKeys)
	}
}
