package dpop

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Unix(1_800_000_000, 0)

const api = "https://api.example/repos/acme/web/pulls"

// newVerifier uses the clock *now for both the verifier and its cache.
func newVerifier(t testing.TB, now *time.Time, opts ...Option) *Verifier {
	t.Helper()
	clock := func() time.Time { return *now }
	v, err := NewVerifier(NewMemoryReplayCache(1000, clock), append([]Option{WithClock(clock)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// seedKey is a deterministic Ed25519 key: 32 bytes of b.
func seedKey(t testing.TB, b byte) *keys.Signer {
	t.Helper()
	key, err := keys.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize)), keys.EdDSA, "")
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func mustProof(t testing.TB, key *keys.Signer, method, uri string, o ProofOptions) string {
	t.Helper()
	if o.Now.IsZero() {
		o.Now = t0
	}
	p, err := NewProof(key, method, uri, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// forge signs any header and claims JSON text with an Ed25519 key, so the
// tests can build proofs NewProof would never make.
func forge(t testing.TB, key *keys.Signer, header, claims []byte) string {
	t.Helper()
	input := b64(header) + "." + b64(claims)
	sig, err := key.CryptoSigner().Sign(nil, []byte(input), crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

// proofJSON returns a valid header and claims for key as maps to mutate.
func proofJSON(t testing.TB, key *keys.Signer) (header, claims map[string]any) {
	t.Helper()
	header = map[string]any{"typ": "dpop+jwt", "alg": string(key.Alg()), "jwk": publicJWK(key)}
	claims = map[string]any{"jti": "jti-1", "htm": "POST", "htu": api, "iat": t0.Unix(), "ath": AccessTokenHash("tok")}
	return header, claims
}

// publicJWK is the bare public key, as go-jose embeds it.
func publicJWK(key *keys.Signer) map[string]any {
	raw, _ := jose.JSONWebKey{Key: key.Public().Key}.MarshalJSON()
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64json(v any) string { b, _ := json.Marshal(v); return b64(b) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// segments decodes a proof's header and claims.
func segments(t testing.TB, proof string) (header, claims map[string]any) {
	t.Helper()
	parts := bytes.Split([]byte(proof), []byte("."))
	if len(parts) != 3 {
		t.Fatalf("proof has %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(string(parts[i]))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}
