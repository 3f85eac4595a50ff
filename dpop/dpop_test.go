package dpop

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

var t0 = time.Unix(1_800_000_000, 0)

const api = "https://api.example/repos/acme/web/pulls"

func newVerifier(t testing.TB, now *time.Time) *Verifier {
	t.Helper()
	v, err := NewVerifier(NewMemoryReplayCache(1000, func() time.Time { return *now }), WithClock(func() time.Time { return *now }))
	if err != nil {
		t.Fatal(err)
	}
	return v
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

// forge signs a proof by hand with any header and claims.
func forge(t *testing.T, key *keys.Signer, header map[string]any, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return signRaw(t, key, h, c)
}

func signRaw(t *testing.T, key *keys.Signer, header, claims []byte) string {
	t.Helper()
	signing := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
	sig, err := key.CryptoSigner().Sign(nil, []byte(signing), cryptoOpts(key))
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestRoundTrip(t *testing.T) {
	for _, alg := range []keys.Alg{keys.ES256, keys.EdDSA, keys.RS256} {
		t.Run(string(alg), func(t *testing.T) {
			key, _ := keys.Generate(alg, nil)
			now := t0
			v := newVerifier(t, &now)
			proof := mustProof(t, key, "POST", api+"?page=2#frag", ProofOptions{AccessToken: "tok"})
			p, err := v.Verify(context.Background(), Request{Proof: proof, Method: "POST", URL: api + "?x=1", AccessToken: "tok", JKT: key.Thumbprint()})
			if err != nil {
				t.Fatal(err)
			}
			if p.HTU != api || p.JKT != key.Thumbprint() || p.ATH != AccessTokenHash("tok") {
				t.Fatalf("proof %+v", p)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	key, _ := keys.Generate(keys.EdDSA, nil)
	other, _ := keys.Generate(keys.EdDSA, nil)
	pub, _ := json.Marshal(key.Public())
	var jwk map[string]any
	json.Unmarshal(pub, &jwk)
	privJWK, _ := json.Marshal(jose.JSONWebKey{Key: key.CryptoSigner()})
	var priv map[string]any
	json.Unmarshal(privJWK, &priv)
	claims := func(mut func(map[string]any)) map[string]any {
		c := map[string]any{"jti": "j1", "htm": "POST", "htu": api, "iat": t0.Unix(), "ath": AccessTokenHash("tok")}
		if mut != nil {
			mut(c)
		}
		return c
	}
	header := func(mut func(map[string]any)) map[string]any {
		h := map[string]any{"typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk}
		if mut != nil {
			mut(h)
		}
		return h
	}
	mac := hmac.New(sha256.New, []byte("secret"))
	hsIn := b64json(map[string]any{"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk}) + "." + b64json(claims(nil))
	mac.Write([]byte(hsIn))
	hs256 := hsIn + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	tests := []struct {
		name  string
		proof string
		req   func(*Request)
		want  *protocol.Error
	}{
		{"missing", "", nil, protocol.ErrMissingProof},
		{"too large", strings.Repeat("a", protocol.MaxTokenSize+1), nil, protocol.ErrProofTooLarge},
		{"not a JWS", "abc", nil, protocol.ErrMalformedProof},
		{"alg none", b64json(header(func(h map[string]any) { h["alg"] = "none" })) + "." + b64json(claims(nil)) + ".", nil, protocol.ErrMalformedProof},
		{"alg none with signature", b64json(header(func(h map[string]any) { h["alg"] = "none" })) + "." + b64json(claims(nil)) + ".AAAA", nil, protocol.ErrProofAlg},
		{"HS256", hs256, nil, protocol.ErrProofAlg},
		{"wrong typ", forge(t, key, header(func(h map[string]any) { h["typ"] = "at+jwt" }), claims(nil)), nil, protocol.ErrProofType},
		{"private key in jwk", forge(t, key, header(func(h map[string]any) { h["jwk"] = priv }), claims(nil)), nil, protocol.ErrProofPrivateKey},
		{"no jwk", forge(t, key, header(func(h map[string]any) { delete(h, "jwk") }), claims(nil)), nil, protocol.ErrMalformedProof},
		{"kid instead of jwk", forge(t, key, header(func(h map[string]any) { h["kid"] = "x" }), claims(nil)), nil, protocol.ErrMalformedProof},
		{"jku", forge(t, key, header(func(h map[string]any) { h["jku"] = "https://evil.example" }), claims(nil)), nil, protocol.ErrMalformedProof},
		{"alg does not fit key", forge(t, key, header(func(h map[string]any) { h["alg"] = "ES256" }), claims(nil)), nil, protocol.ErrProofAlg},
		{"signed by another key", forge(t, other, header(nil), claims(nil)), nil, protocol.ErrProofSignature},
		{"duplicate htu member", signRaw(t, key, mustJSON(header(nil)), []byte(`{"jti":"j","htm":"POST","htu":"https://evil.example/","htu":"`+api+`","iat":`+fmt.Sprint(t0.Unix())+`}`)), nil, protocol.ErrMalformedProof},
		{"no jti", forge(t, key, header(nil), claims(func(c map[string]any) { delete(c, "jti") })), nil, protocol.ErrMalformedProof},
		{"wrong htm", mustProof(t, key, "GET", api, ProofOptions{AccessToken: "tok"}), nil, protocol.ErrWrongMethod},
		{"lowercase htm", mustProof(t, key, "post", api, ProofOptions{AccessToken: "tok"}), nil, protocol.ErrWrongMethod},
		{"htu with query", forge(t, key, header(nil), claims(func(c map[string]any) { c["htu"] = api + "?a=1" })), nil, protocol.ErrWrongURI},
		{"htu other path", mustProof(t, key, "POST", api+"/x", ProofOptions{AccessToken: "tok"}), nil, protocol.ErrWrongURI},
		{"htu trailing slash", mustProof(t, key, "POST", api+"/", ProofOptions{AccessToken: "tok"}), nil, protocol.ErrWrongURI},
		{"htu path case", mustProof(t, key, "POST", strings.Replace(api, "acme", "ACME", 1), ProofOptions{AccessToken: "tok"}), nil, protocol.ErrWrongURI},
		{"htu encoded slash", mustProof(t, key, "POST", strings.Replace(api, "acme/web", "acme%2Fweb", 1), ProofOptions{AccessToken: "tok"}), nil, protocol.ErrWrongURI},
		{"htu other host", mustProof(t, key, "POST", strings.Replace(api, "api.example", "evil.example", 1), ProofOptions{AccessToken: "tok"}), nil, protocol.ErrWrongURI},
		{"htu http vs https", mustProof(t, key, "POST", strings.Replace(api, "https", "http", 1), ProofOptions{AccessToken: "tok"}), nil, protocol.ErrWrongURI},
		{"stale iat", mustProof(t, key, "POST", api, ProofOptions{AccessToken: "tok", Now: t0.Add(-2 * time.Minute)}), nil, protocol.ErrStaleProof},
		{"future iat", mustProof(t, key, "POST", api, ProofOptions{AccessToken: "tok", Now: t0.Add(2 * time.Minute)}), nil, protocol.ErrStaleProof},
		{"ath missing", mustProof(t, key, "POST", api, ProofOptions{}), nil, protocol.ErrAthMismatch},
		{"ath wrong", mustProof(t, key, "POST", api, ProofOptions{AccessToken: "other"}), nil, protocol.ErrAthMismatch},
		{"key is not cnf.jkt", mustProof(t, key, "POST", api, ProofOptions{AccessToken: "tok"}), func(r *Request) { r.JKT = other.Thumbprint() }, protocol.ErrKeyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0
			v := newVerifier(t, &now)
			r := Request{Proof: tt.proof, Method: "POST", URL: api, AccessToken: "tok", JKT: key.Thumbprint()}
			if tt.req != nil {
				tt.req(&r)
			}
			_, err := v.Verify(context.Background(), r)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %s", err, tt.want.Reason)
			}
		})
	}
}

func TestReplayAndEquivalentURIs(t *testing.T) {
	key, _ := keys.Generate(keys.ES256, nil)
	now := t0
	v := newVerifier(t, &now)
	proof := mustProof(t, key, "GET", "HTTPS://API.EXAMPLE:443/a/%7euser/x%2fy", ProofOptions{})
	r := Request{Proof: proof, Method: "GET", URL: "https://api.example/a/~user/x%2Fy?q=1"}
	if _, err := v.Verify(context.Background(), r); err != nil {
		t.Fatalf("equivalent URI refused: %v", err)
	}
	if _, err := v.Verify(context.Background(), r); !errors.Is(err, protocol.ErrReplayedProof) {
		t.Fatalf("replay: %v", err)
	}
	// A failing proof never occupies the cache: the same proof is still
	// fresh for its own request after being refused for another.
	p2 := mustProof(t, key, "GET", api, ProofOptions{})
	v.Verify(context.Background(), Request{Proof: p2, Method: "POST", URL: api})
	if _, err := v.Verify(context.Background(), Request{Proof: p2, Method: "GET", URL: api}); err != nil {
		t.Fatalf("refused proof was cached: %v", err)
	}
}

type fixedNonce struct{}

func (fixedNonce) New() string         { return "n-1" }
func (fixedNonce) Valid(n string) bool { return n == "n-1" }

func TestNonce(t *testing.T) {
	key, _ := keys.Generate(keys.EdDSA, nil)
	now := t0
	v, _ := NewVerifier(NewMemoryReplayCache(10, nil), WithClock(func() time.Time { return now }), WithNonce(fixedNonce{}))
	_, err := v.Verify(context.Background(), Request{Proof: mustProof(t, key, "GET", api, ProofOptions{}), Method: "GET", URL: api})
	if !errors.Is(err, protocol.ErrNonceRequired) {
		t.Fatalf("without nonce: %v", err)
	}
	if _, err := v.Verify(context.Background(), Request{Proof: mustProof(t, key, "GET", api, ProofOptions{Nonce: "n-1"}), Method: "GET", URL: api}); err != nil {
		t.Fatalf("with nonce: %v", err)
	}
}

// TestMemoryStaysFlat floods the cache with unique ids while time moves on:
// it never holds more than its bound, and never refuses while expired
// entries can make room.
func TestMemoryStaysFlat(t *testing.T) {
	now := t0
	c := NewMemoryReplayCache(1000, func() time.Time { return now })
	ctx := context.Background()
	for i := range 1_000_000 {
		if i%100 == 0 {
			now = now.Add(time.Second)
		}
		if _, err := c.Use(ctx, fmt.Sprint(i), now.Add(5*time.Second)); err != nil {
			t.Fatalf("id %d: %v", i, err)
		}
		if c.Len() > 1000 {
			t.Fatalf("cache holds %d ids, bound is 1000", c.Len())
		}
	}
	full := NewMemoryReplayCache(2, nil)
	full.Use(ctx, "a", time.Now().Add(time.Hour))
	full.Use(ctx, "b", time.Now().Add(time.Hour))
	if _, err := full.Use(ctx, "c", time.Now().Add(time.Hour)); !errors.Is(err, ErrCacheFull) {
		t.Fatalf("full cache: %v", err)
	}
}

func TestNormalizeHTU(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://API.Example/a", "https://api.example/a"},
		{"https://api.example:443/a", "https://api.example/a"},
		{"http://api.example:80", "http://api.example/"},
		{"http://api.example:8080/a?b#c", "http://api.example:8080/a"},
		{"https://api.example/%7e%2f%41", "https://api.example/~%2FA"},
		{"https://[::1]:9000/x", "https://[::1]:9000/x"},
	}
	for _, tt := range tests {
		if got, err := NormalizeHTU(tt.in); err != nil || got != tt.want {
			t.Errorf("NormalizeHTU(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"/relative", "ftp://x/y", "https://user@x/", "https://x/%zz", "mailto:a@b"} {
		if _, err := NormalizeHTU(bad); err == nil {
			t.Errorf("NormalizeHTU(%q) accepted", bad)
		}
	}
}

func b64json(v any) string { return base64.RawURLEncoding.EncodeToString(mustJSON(v)) }

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }
