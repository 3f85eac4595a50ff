package dpop

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

func TestRoundTrip(t *testing.T) {
	for _, alg := range keys.DefaultAlgs() {
		t.Run(string(alg), func(t *testing.T) {
			key, err := keys.Generate(alg, nil)
			if err != nil {
				t.Fatal(err)
			}
			now := t0
			proof := mustProof(t, key, "POST", api+"?page=2#frag", ProofOptions{AccessToken: "tok", JTI: "j-1"})
			p, err := newVerifier(t, &now).Verify(t.Context(), Request{Proof: proof, Method: "POST", URL: api + "?x=1", AccessToken: "tok", JKT: key.Thumbprint()})
			if err != nil {
				t.Fatal(err)
			}
			if p.HTU != api || p.HTM != "POST" || p.JTI != "j-1" || p.JKT != key.Thumbprint() ||
				p.ATH != AccessTokenHash("tok") || !p.IssuedAt.Equal(t0) || p.Key == nil || !p.Key.IsPublic() {
				t.Fatalf("proof %+v", p)
			}
		})
	}
}

// mutate builds a proof by key from the valid header and claims of
// proofJSON after h and c have changed them.
func mutate(t *testing.T, key *keys.Signer, h, c func(map[string]any)) string {
	t.Helper()
	header, claims := proofJSON(t, key)
	if h != nil {
		h(header)
	}
	if c != nil {
		c(claims)
	}
	return forge(t, key, mustJSON(t, header), mustJSON(t, claims))
}

func set(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
func del(k string) func(map[string]any)        { return func(m map[string]any) { delete(m, k) } }

// refusalCases lists a proof for every check Verify makes, each against the
// request POST api with access token "tok" bound to key.
func refusalCases(t *testing.T, key, other *keys.Signer) []verifyCase {
	valid := mutate(t, key, nil, nil)
	header, claims := proofJSON(t, key)
	hJSON, cJSON := mustJSON(t, header), mustJSON(t, claims)
	segs := strings.Split(valid, ".")
	return []verifyCase{
		{"missing", "", nil, protocol.ErrMissingProof},
		{"too large", strings.Repeat("a", protocol.MaxTokenSize+1), nil, protocol.ErrProofTooLarge},
		{"two DPoP headers", valid + "," + valid, nil, protocol.ErrMalformedProof},
		{"two DPoP headers, comma and space", valid + ", " + valid, nil, protocol.ErrMalformedProof},
		{"not a JWS", "abc", nil, protocol.ErrMalformedProof},
		{"four segments", valid + ".e30", nil, protocol.ErrMalformedProof},
		{"line break in base64", segs[0][:10] + "\n" + segs[0][10:] + "." + segs[1] + "." + segs[2], nil, protocol.ErrMalformedProof},
		{"padded base64", segs[0] + "=." + segs[1] + "." + segs[2], nil, protocol.ErrMalformedProof},
		{"header not JSON", forge(t, key, []byte("{typ"), cJSON), nil, protocol.ErrMalformedProof},
		{"header an array", forge(t, key, []byte(`["dpop+jwt"]`), cJSON), nil, protocol.ErrMalformedProof},
		{"header with trailing data", forge(t, key, append(hJSON, "{}"...), cJSON), nil, protocol.ErrMalformedProof},
		{"duplicate typ member", forge(t, key, []byte(`{"typ":"JWT",`+string(hJSON[1:])), cJSON), nil, protocol.ErrMalformedProof},
		{"duplicate htu member", forge(t, key, hJSON, []byte(`{"htu":"https://evil.example/",`+string(cJSON[1:]))), nil, protocol.ErrMalformedProof},
		{"nesting deeper than 32", mutate(t, key, nil, set("x", nested(40))), nil, protocol.ErrMalformedProof},
		{"payload not UTF-8", forge(t, key, hJSON, []byte(`{"jti":"\xff"}`)), nil, protocol.ErrMalformedProof},
		{"wrong typ", mutate(t, key, set("typ", "at+jwt"), nil), nil, protocol.ErrProofType},
		{"typ in upper case", mutate(t, key, set("typ", "DPOP+JWT"), nil), nil, protocol.ErrProofType},
		{"typ with application/", mutate(t, key, set("typ", "application/dpop+jwt"), nil), nil, protocol.ErrProofType},
		{"typ only as TYP", mutate(t, key, func(h map[string]any) { delete(h, "typ"); h["TYP"] = "dpop+jwt" }, nil), nil, protocol.ErrProofType},
		{"typ not a string", mutate(t, key, set("typ", 1), nil), nil, protocol.ErrProofType},
		{"alg none", strings.Join([]string{b64json(withMember(header, "alg", "none")), segs[1], ""}, "."), nil, protocol.ErrProofAlg},
		{"alg none with a signature", strings.Join([]string{b64json(withMember(header, "alg", "none")), segs[1], segs[2]}, "."), nil, protocol.ErrProofAlg},
		{"HS256", hs256(t, withMember(header, "alg", "HS256"), claims), nil, protocol.ErrProofAlg},
		{"ES512", mutate(t, key, set("alg", "ES512"), nil), nil, protocol.ErrProofAlg},
		{"no alg", mutate(t, key, del("alg"), nil), nil, protocol.ErrProofAlg},
		{"alg does not fit the key", mutate(t, key, set("alg", "ES256"), nil), nil, protocol.ErrProofAlg},
		{"alg Ed25519 with a P-256 jwk", mutate(t, key, foreignJWK("Ed25519", p256JWK), nil), nil, protocol.ErrProofAlg},
		{"alg EdDSA with a P-256 jwk", mutate(t, key, foreignJWK("EdDSA", p256JWK), nil), nil, protocol.ErrProofAlg},
		{"alg Ed25519 with an RSA jwk", mutate(t, key, foreignJWK("Ed25519", rsaJWK), nil), nil, protocol.ErrProofAlg},
		{"alg ES256 with an Ed25519 jwk named Ed25519", mutate(t, key, both(set("alg", "ES256"), jwkSet("alg", "Ed25519")), nil), nil, protocol.ErrProofAlg},
		{"alg ed25519 in lower case", mutate(t, key, set("alg", "ed25519"), nil), nil, protocol.ErrProofAlg},
		{"alg Ed448", mutate(t, key, set("alg", "Ed448"), nil), nil, protocol.ErrProofAlg},
		{"jwk named Ed25519 on a P-256 key", mutate(t, key, foreignJWK("ES256", withMember(p256JWK, "alg", "Ed25519")), nil), nil, protocol.ErrMalformedProof},
		{"alg Ed25519, signed by another key", forge(t, other, mustJSON(t, withMember(header, "alg", "Ed25519")), cJSON), nil, protocol.ErrProofSignature},
		{"alg Ed25519, signature altered", flipSignature(mutate(t, key, set("alg", "Ed25519"), nil)), nil, protocol.ErrProofSignature},
		{"jwk names another alg", mutate(t, key, jwkSet("alg", "ES256"), nil), nil, protocol.ErrMalformedProof},
		{"jwk for encryption", mutate(t, key, jwkSet("use", "enc"), nil), nil, protocol.ErrMalformedProof},
		{"no jwk", mutate(t, key, del("jwk"), nil), nil, protocol.ErrMalformedProof},
		{"jwk not an object", mutate(t, key, set("jwk", "key"), nil), nil, protocol.ErrMalformedProof},
		{"kid instead of jwk", mutate(t, key, func(h map[string]any) { delete(h, "jwk"); h["kid"] = key.KeyID() }, nil), nil, protocol.ErrMalformedProof},
		{"kid beside jwk", mutate(t, key, set("kid", key.KeyID()), nil), nil, protocol.ErrMalformedProof},
		{"jku", mutate(t, key, set("jku", "https://evil.example/jwks"), nil), nil, protocol.ErrMalformedProof},
		{"x5u", mutate(t, key, set("x5u", "https://evil.example/cert"), nil), nil, protocol.ErrMalformedProof},
		{"x5c", mutate(t, key, set("x5c", []string{"MIIB"}), nil), nil, protocol.ErrMalformedProof},
		{"crit", mutate(t, key, func(h map[string]any) { h["crit"] = []string{"b64"}; h["b64"] = false }, nil), nil, protocol.ErrMalformedProof},
		{"private key in jwk", mutate(t, key, jwkSet("d", b64(key.CryptoSigner().(interface{ Seed() []byte }).Seed())), nil), nil, protocol.ErrProofPrivateKey},
		{"symmetric jwk", mutate(t, key, set("jwk", map[string]any{"kty": "oct", "k": "c2VjcmV0"}), nil), nil, protocol.ErrProofPrivateKey},
		{"jwk of an unknown curve", mutate(t, key, jwkSet("crv", "Ed448"), nil), nil, protocol.ErrMalformedProof},
		{"RSA jwk of 1024 bits", rsaProof(t, 1024), nil, protocol.ErrMalformedProof},
		{"signed by another key", forge(t, other, hJSON, cJSON), nil, protocol.ErrProofSignature},
		{"signature stripped", segs[0] + "." + segs[1] + ".", nil, protocol.ErrProofSignature},
		{"signature altered", segs[0] + "." + segs[1] + "." + flip(segs[2]), nil, protocol.ErrProofSignature},
		{"signature not canonical base64url", segs[0] + "." + segs[1] + "." + padBits(segs[2]), nil, protocol.ErrMalformedProof},
		{"claims replaced", segs[0] + "." + b64json(withMember(claims, "htm", "DELETE")) + "." + segs[2], func(r *Request) { r.Method = "DELETE" }, protocol.ErrProofSignature},
		{"no jti", mutate(t, key, nil, del("jti")), nil, protocol.ErrMalformedProof},
		{"empty jti", mutate(t, key, nil, set("jti", "")), nil, protocol.ErrMalformedProof},
		{"jti over 256 bytes", mutate(t, key, nil, set("jti", strings.Repeat("j", 257))), nil, protocol.ErrMalformedProof},
		{"jti a number", mutate(t, key, nil, set("jti", 7)), nil, protocol.ErrMalformedProof},
		{"no htm", mutate(t, key, nil, del("htm")), nil, protocol.ErrMalformedProof},
		{"no htu", mutate(t, key, nil, del("htu")), nil, protocol.ErrMalformedProof},
		{"no iat", mutate(t, key, nil, del("iat")), nil, protocol.ErrMalformedProof},
		{"iat a string", mutate(t, key, nil, set("iat", fmt.Sprint(t0.Unix()))), nil, protocol.ErrMalformedProof},
		{"iat negative", mutate(t, key, nil, set("iat", -1)), nil, protocol.ErrMalformedProof},
		{"ath not a string", mutate(t, key, nil, set("ath", 1)), nil, protocol.ErrMalformedProof},
		{"nonce not a string", mutate(t, key, nil, set("nonce", []int{1})), nil, protocol.ErrMalformedProof},
		{"wrong htm", mutate(t, key, nil, set("htm", "GET")), nil, protocol.ErrWrongMethod},
		{"htm in lower case", mutate(t, key, nil, set("htm", "post")), nil, protocol.ErrWrongMethod},
		{"htu with query", mutate(t, key, nil, set("htu", api+"?a=1")), nil, protocol.ErrWrongURI},
		{"htu with empty query", mutate(t, key, nil, set("htu", api+"?")), nil, protocol.ErrWrongURI},
		{"htu with fragment", mutate(t, key, nil, set("htu", api+"#f")), nil, protocol.ErrWrongURI},
		{"htu other path", mutate(t, key, nil, set("htu", api+"/x")), nil, protocol.ErrWrongURI},
		{"htu trailing slash", mutate(t, key, nil, set("htu", api+"/")), nil, protocol.ErrWrongURI},
		{"htu path case", mutate(t, key, nil, set("htu", strings.Replace(api, "acme", "ACME", 1))), nil, protocol.ErrWrongURI},
		{"htu encoded slash", mutate(t, key, nil, set("htu", strings.Replace(api, "acme/web", "acme%2Fweb", 1))), nil, protocol.ErrWrongURI},
		{"htu dot segment", mutate(t, key, nil, set("htu", strings.Replace(api, "/web/", "/x/../web/", 1))), nil, protocol.ErrWrongURI},
		{"htu other host", mutate(t, key, nil, set("htu", strings.Replace(api, "api.example", "evil.example", 1))), nil, protocol.ErrWrongURI},
		{"htu http for https", mutate(t, key, nil, set("htu", strings.Replace(api, "https", "http", 1))), nil, protocol.ErrWrongURI},
		{"htu other port", mutate(t, key, nil, set("htu", strings.Replace(api, "api.example", "api.example:8443", 1))), nil, protocol.ErrWrongURI},
		{"htu relative", mutate(t, key, nil, set("htu", "/repos/acme/web/pulls")), nil, protocol.ErrWrongURI},
		{"htu with user info", mutate(t, key, nil, set("htu", strings.Replace(api, "api.example", "u@api.example", 1))), nil, protocol.ErrWrongURI},
		{"iat stale", mutate(t, key, nil, set("iat", t0.Unix()-61)), nil, protocol.ErrStaleProof},
		{"iat in the future", mutate(t, key, nil, set("iat", t0.Unix()+61)), nil, protocol.ErrStaleProof},
		{"iat far in the future", mutate(t, key, nil, set("iat", int64(1)<<53)), nil, protocol.ErrStaleProof},
		{"ath missing", mutate(t, key, nil, del("ath")), nil, protocol.ErrAthMismatch},
		{"ath of another token", mutate(t, key, nil, set("ath", AccessTokenHash("other"))), nil, protocol.ErrAthMismatch},
		{"ath of the token, not hashed", mutate(t, key, nil, set("ath", "tok")), nil, protocol.ErrAthMismatch},
		{"key is not cnf.jkt", valid, func(r *Request) { r.JKT = other.Thumbprint() }, protocol.ErrKeyMismatch},
		{"request URL unusable", valid, func(r *Request) { r.URL = "/repos/acme/web/pulls" }, protocol.ErrWrongURI},
	}
}

// verifyCase is one Verify case: a proof, how the request differs from the
// default one, and the error wanted (nil: accepted).
type verifyCase struct {
	name  string
	proof string
	req   func(*Request)
	want  *protocol.Error
}

// TestVerifyRefuses runs every verifyCase with a fresh verifier, so that each
// case fails on its own check and not on an earlier case's replay entry.
func TestVerifyRefuses(t *testing.T) {
	key, other := seedKey(t, 7), seedKey(t, 8)
	for _, tt := range refusalCases(t, key, other) {
		t.Run(tt.name, func(t *testing.T) {
			now := t0
			r := Request{Proof: tt.proof, Method: "POST", URL: api, AccessToken: "tok", JKT: key.Thumbprint()}
			if tt.req != nil {
				tt.req(&r)
			}
			p, err := newVerifier(t, &now).Verify(t.Context(), r)
			if !errors.Is(err, tt.want) || p != nil {
				t.Fatalf("Verify = %v, %v; want %s (%s)", p, err, tt.want.Code, tt.want.Reason)
			}
		})
	}
}

// acceptCases lists what the checks must let through: equivalent
// spellings of the URI, iat at the edges of the window, optional parts.
func acceptCases(t *testing.T, key *keys.Signer) []verifyCase {
	return []verifyCase{
		{"host in upper case", mutate(t, key, nil, set("htu", "https://API.Example/repos/acme/web/pulls")), nil, nil},
		{"scheme in upper case", mutate(t, key, nil, set("htu", "HTTPS://api.example/repos/acme/web/pulls")), nil, nil},
		{"htu with :443", mutate(t, key, nil, set("htu", "https://api.example:443/repos/acme/web/pulls")), nil, nil},
		{"request URL with :443", mutate(t, key, nil, nil), func(r *Request) { r.URL = "https://api.example:443/repos/acme/web/pulls" }, nil},
		{"http with :80", mutate(t, key, nil, set("htu", "http://api.example:80/x")), func(r *Request) { r.URL = "http://api.example/x" }, nil},
		{"%7E and ~", mutate(t, key, nil, set("htu", "https://api.example/~user")), func(r *Request) { r.URL = "https://api.example/%7euser" }, nil},
		{"%2f and %2F", mutate(t, key, nil, set("htu", "https://api.example/a%2fb")), func(r *Request) { r.URL = "https://api.example/a%2Fb" }, nil},
		{"empty path and /", mutate(t, key, nil, set("htu", "https://api.example")), func(r *Request) { r.URL = "https://api.example/" }, nil},
		{"request query ignored", mutate(t, key, nil, nil), func(r *Request) { r.URL = api + "?page=2&per_page=50" }, nil},
		{"iat at the past edge", mutate(t, key, nil, set("iat", t0.Unix()-60)), nil, nil},
		{"iat at the future edge", mutate(t, key, nil, set("iat", t0.Unix()+60)), nil, nil},
		{"fractional iat", mutate(t, key, nil, set("iat", 1_800_000_000.5)), nil, nil},
		{"jti of 256 bytes", mutate(t, key, nil, set("jti", strings.Repeat("j", 256))), nil, nil},
		{"no token, no ath", mutate(t, key, nil, del("ath")), func(r *Request) { r.AccessToken, r.NoAccessToken = "", true }, nil},
		{"no jkt to match", mutate(t, key, nil, nil), func(r *Request) { r.JKT, r.AnyKey = "", true }, nil},
		{"extra claims and header members", mutate(t, key, set("cty", "x"), set("exp", t0.Unix()+5)), nil, nil},
		{"alg Ed25519", mutate(t, key, set("alg", "Ed25519"), nil), nil, nil},
		{"alg Ed25519, jwk named Ed25519", mutate(t, key, both(set("alg", "Ed25519"), jwkSet("alg", "Ed25519")), nil), nil, nil},
		{"alg EdDSA, jwk named Ed25519", mutate(t, key, jwkSet("alg", "Ed25519"), nil), nil, nil},
		{"alg Ed25519, jwk named EdDSA", mutate(t, key, both(set("alg", "Ed25519"), jwkSet("alg", "EdDSA")), nil), nil, nil},
	}
}

func TestVerifyAccepts(t *testing.T) {
	key := seedKey(t, 7)
	for _, tt := range acceptCases(t, key) {
		t.Run(tt.name, func(t *testing.T) {
			now := t0
			r := Request{Proof: tt.proof, Method: "POST", URL: api, AccessToken: "tok", JKT: key.Thumbprint()}
			if tt.req != nil {
				tt.req(&r)
			}
			if p, err := newVerifier(t, &now).Verify(t.Context(), r); err != nil || p == nil {
				t.Fatalf("Verify = %v, %v", p, err)
			}
		})
	}
}

func withMember(m map[string]any, k string, v any) map[string]any {
	c := maps.Clone(m)
	c[k] = v
	return c
}

// jwkSet changes one member of the header's jwk.
func jwkSet(k string, v any) func(map[string]any) {
	return func(h map[string]any) { h["jwk"] = withMember(h["jwk"].(map[string]any), k, v) }
}

func nested(depth int) any {
	var v any = "x"
	for range depth {
		v = []any{v}
	}
	return v
}

// flip changes the first character of a base64url segment.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// padBits sets the unused low bits of the last character of an Ed25519
// signature (64 bytes: 86 characters, the last carrying 2 bits and 4
// padding bits): a lax decoder reads the same bytes.
func padBits(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[last|0x0f])
}

// hs256 MACs a proof with a secret: the alg-confusion attempt.
func hs256(t *testing.T, header, claims map[string]any) string {
	input := b64json(header) + "." + b64json(claims)
	mac := hmac.New(sha256.New, []byte("secret"))
	mac.Write([]byte(input))
	return input + "." + b64(mac.Sum(nil))
}

// rsaProof is a proof signed with an RSA key of the given size, built by
// go-jose directly because keys.NewSigner refuses keys under 2048 bits.
func rsaProof(t *testing.T, bits int) string {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"jti": "j", "htm": "POST", "htu": api, "iat": t0.Unix(), "ath": AccessTokenHash("tok")}
	obj, err := signer.Sign(mustJSON(t, claims))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := obj.CompactSerialize()
	return s
}

func TestReplay(t *testing.T) {
	key, other := seedKey(t, 7), seedKey(t, 8)
	t.Run("same proof twice", func(t *testing.T) {
		now := t0
		v := newVerifier(t, &now)
		r := Request{Proof: mutate(t, key, nil, nil), Method: "POST", URL: api, NoAccessToken: true, AnyKey: true}
		if _, err := v.Verify(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		if p, err := v.Verify(t.Context(), r); !errors.Is(err, protocol.ErrReplayedProof) || p != nil {
			t.Fatalf("replay: %v, %v", p, err)
		}
	})
	t.Run("replay at the last instant of the window", func(t *testing.T) {
		now := t0.Add(protocol.DefaultIATSkew) // iat t0 is still acceptable
		v := newVerifier(t, &now)
		r := Request{Proof: mutate(t, key, nil, nil), Method: "POST", URL: api, NoAccessToken: true, AnyKey: true}
		if _, err := v.Verify(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(t.Context(), r); !errors.Is(err, protocol.ErrReplayedProof) {
			t.Fatalf("replay at the edge: %v", err)
		}
	})
	t.Run("a refused proof takes no entry", func(t *testing.T) {
		now := t0
		v := newVerifier(t, &now)
		proof := mutate(t, key, nil, nil)
		if _, err := v.Verify(t.Context(), Request{Proof: proof, Method: "GET", URL: api, NoAccessToken: true, AnyKey: true}); !errors.Is(err, protocol.ErrWrongMethod) {
			t.Fatalf("wrong method: %v", err)
		}
		if _, err := v.Verify(t.Context(), Request{Proof: proof, Method: "POST", URL: api, NoAccessToken: true, AnyKey: true}); err != nil {
			t.Fatalf("refused proof was cached: %v", err)
		}
	})
	t.Run("one jti, two keys", func(t *testing.T) {
		now := t0
		v := newVerifier(t, &now)
		for _, k := range []*keys.Signer{key, other} {
			if _, err := v.Verify(t.Context(), Request{Proof: mutate(t, k, nil, nil), Method: "POST", URL: api, NoAccessToken: true, AnyKey: true}); err != nil {
				t.Fatalf("jti of another key burnt: %v", err)
			}
		}
	})
}

// failingCache stands for a cache that cannot answer (full, unreachable).
type failingCache struct{ err error }

func (c failingCache) Use(context.Context, Entry) (bool, Epoch, error) { return false, Epoch{}, c.err }
func (c failingCache) Epoch(context.Context) (Epoch, error)            { return Epoch{}, c.err }

func TestReplayCacheFailureRefuses(t *testing.T) {
	now := t0
	v, err := NewVerifier(failingCache{ErrCacheFull}, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(t.Context(), Request{Proof: mutate(t, seedKey(t, 7), nil, nil), Method: "POST", URL: api, NoAccessToken: true, AnyKey: true})
	var pe *protocol.Error
	if !errors.Is(err, ErrCacheFull) || errors.As(err, &pe) || p != nil {
		t.Fatalf("Verify = %v, %v; want the cache's error, not a protocol error", p, err)
	}
}

type fixedNonce struct{}

func (fixedNonce) New() string         { return "n-1" }
func (fixedNonce) Valid(n string) bool { return n == "n-1" }

func TestNonce(t *testing.T) {
	key := seedKey(t, 7)
	tests := []struct {
		name  string
		proof string
		want  *protocol.Error
	}{
		{"none", mutate(t, key, nil, del("nonce")), protocol.ErrNonceRequired},
		{"old", mutate(t, key, nil, set("nonce", "n-0")), protocol.ErrNonceRequired},
		{"stale proof is stale first", mutate(t, key, nil, set("iat", t0.Unix()-600)), protocol.ErrStaleProof},
		{"current", mutate(t, key, nil, set("nonce", "n-1")), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0
			v := newVerifier(t, &now, WithNonce(fixedNonce{}))
			_, err := v.Verify(t.Context(), Request{Proof: tt.proof, Method: "POST", URL: api, NoAccessToken: true, AnyKey: true})
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	var pe *protocol.Error
	now := t0
	_, err := newVerifier(t, &now, WithNonce(fixedNonce{})).Verify(t.Context(), Request{Proof: mutate(t, key, nil, nil), Method: "POST", URL: api, NoAccessToken: true, AnyKey: true})
	if !errors.As(err, &pe) || pe.Code != protocol.CodeUseDPoPNonce {
		t.Fatalf("missing nonce: %v, want code use_dpop_nonce", err)
	}
}

func TestNewVerifierRefuses(t *testing.T) {
	cache := NewMemoryReplayCache(10, nil)
	tests := []struct {
		name  string
		cache ReplayCache
		opt   Option
	}{
		{"no cache", nil, nil},
		{"empty alg list", cache, WithAlgs()},
		{"HS256", cache, WithAlgs("HS256")},
		{"none", cache, WithAlgs("none")},
		{"Ed448", cache, WithAlgs("Ed448")},
		{"zero window", cache, WithIATWindow(0)},
		{"negative window", cache, WithIATWindow(-time.Second)},
		{"window over 10 minutes", cache, WithIATWindow(11 * time.Minute)},
		{"nil clock", cache, WithClock(nil)},
		{"nil nonce checker", cache, WithNonce(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []Option
			if tt.opt != nil {
				opts = append(opts, tt.opt)
			}
			if v, err := NewVerifier(tt.cache, opts...); err == nil || v != nil {
				t.Fatalf("NewVerifier = %v, %v; want an error", v, err)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	ed, es := seedKey(t, 7), mustGenerate(t, keys.ES256)
	tests := []struct {
		name  string
		opt   Option
		proof string
		want  *protocol.Error
	}{
		{"WithAlgs(ES256) refuses EdDSA", WithAlgs(keys.ES256), mutate(t, ed, nil, nil), protocol.ErrProofAlg},
		{"WithAlgs(ES256) takes ES256", WithAlgs(keys.ES256), mustProof(t, es, "POST", api, ProofOptions{}), nil},
		{"WithAlgs(ES256) refuses Ed25519", WithAlgs(keys.ES256), mutate(t, ed, set("alg", "Ed25519"), nil), protocol.ErrProofAlg},
		{"WithAlgs(EdDSA) refuses Ed25519", WithAlgs(keys.EdDSA), mutate(t, ed, set("alg", "Ed25519"), nil), protocol.ErrProofAlg},
		{"WithAlgs(Ed25519) takes Ed25519", WithAlgs(keys.Ed25519), mutate(t, ed, set("alg", "Ed25519"), nil), nil},
		{"WithAlgs(Ed25519) refuses EdDSA", WithAlgs(keys.Ed25519), mutate(t, ed, nil, nil), protocol.ErrProofAlg},
		{"WithIATWindow(5m) takes 4m old", WithIATWindow(5 * time.Minute), mutate(t, ed, nil, set("iat", t0.Unix()-240)), nil},
		{"WithIATWindow(5s) refuses 6s old", WithIATWindow(5 * time.Second), mutate(t, ed, nil, set("iat", t0.Unix()-6)), protocol.ErrStaleProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0
			_, err := newVerifier(t, &now, tt.opt).Verify(t.Context(), Request{Proof: tt.proof, Method: "POST", URL: api, NoAccessToken: true, AnyKey: true})
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func mustGenerate(t *testing.T, alg keys.Alg) *keys.Signer {
	t.Helper()
	key, err := keys.Generate(alg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestCheckOrder gives proofs that fail several checks: the first check in
// the documented order is the one reported.
func TestCheckOrder(t *testing.T) {
	key, other := seedKey(t, 7), seedKey(t, 8)
	stale := set("iat", t0.Unix()-600)
	tests := []struct {
		name  string
		proof string
		want  *protocol.Error
	}{
		{"typ before alg", mutate(t, key, func(h map[string]any) { h["typ"] = "JWT"; h["alg"] = "HS256" }, nil), protocol.ErrProofType},
		{"alg before key locators", mutate(t, key, func(h map[string]any) { h["alg"] = "none"; h["jku"] = "https://evil.example" }, nil), protocol.ErrProofAlg},
		{"private key before signature", forge(t, other, mustJSON(t, withMember(mustHeader(t, key), "jwk", withMember(publicJWK(key), "d", "AAAA"))), []byte(`{}`)), protocol.ErrProofPrivateKey},
		{"signature before claims", forge(t, other, mustJSON(t, mustHeader(t, key)), []byte(`{}`)), protocol.ErrProofSignature},
		{"claims before htm", mutate(t, key, nil, func(c map[string]any) { delete(c, "jti"); c["htm"] = "GET" }), protocol.ErrMalformedProof},
		{"htm before htu", mutate(t, key, nil, func(c map[string]any) { c["htm"] = "GET"; c["htu"] = "https://evil.example/" }), protocol.ErrWrongMethod},
		{"htu before iat", mutate(t, key, nil, func(c map[string]any) { c["htu"] = "https://evil.example/"; stale(c) }), protocol.ErrWrongURI},
		{"iat before ath", mutate(t, key, nil, func(c map[string]any) { stale(c); delete(c, "ath") }), protocol.ErrStaleProof},
		{"ath before jkt", mutate(t, other, nil, del("ath")), protocol.ErrAthMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0
			_, err := newVerifier(t, &now).Verify(t.Context(), Request{Proof: tt.proof, Method: "POST", URL: api, AccessToken: "tok", JKT: key.Thumbprint()})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %s", err, tt.want.Reason)
			}
		})
	}
}

func mustHeader(t *testing.T, key *keys.Signer) map[string]any {
	h, _ := proofJSON(t, key)
	return h
}

// TestVerifyRefusesSignaturePerAlg: for every allowed algorithm, a proof
// verifies only with the signature its own key made over its own header
// and claims.
func TestVerifyRefusesSignaturePerAlg(t *testing.T) {
	for _, alg := range []keys.Alg{keys.ES256, keys.EdDSA, keys.RS256} {
		t.Run(string(alg), func(t *testing.T) {
			key, _ := keys.Generate(alg, nil)
			other, _ := keys.Generate(alg, nil)
			proof := func(k *keys.Signer) []string {
				return strings.Split(mustProof(t, k, "POST", api, ProofOptions{AccessToken: "tok"}), ".")
			}
			mine, again, theirs := proof(key), proof(key), proof(other)
			join := func(s ...string) string { return strings.Join(s, ".") }
			cases := []struct {
				name, proof string
				want        *protocol.Error
			}{
				{"valid", join(mine...), nil},
				{"signature altered", join(mine[0], mine[1], flip(mine[2])), protocol.ErrProofSignature},
				{"signature of another proof by the same key", join(mine[0], mine[1], again[2]), protocol.ErrProofSignature},
				{"signature by another key", join(mine[0], mine[1], theirs[2]), protocol.ErrProofSignature},
				{"claims of another proof", join(mine[0], again[1], mine[2]), protocol.ErrProofSignature},
			}
			for _, tt := range cases {
				now := t0
				_, err := newVerifier(t, &now).Verify(t.Context(), Request{Proof: tt.proof, Method: "POST", URL: api, AccessToken: "tok", JKT: key.Thumbprint()})
				if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
					t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
				}
			}
		})
	}
}

// TestUnstatedBindingRefused: a Request that leaves the token or the key
// unsaid is a caller's mistake, refused before anything else, never read
// as "skip that check".
func TestUnstatedBindingRefused(t *testing.T) {
	key := seedKey(t, 7)
	proof := mutate(t, key, nil, nil)
	for _, r := range []Request{
		{Proof: proof, Method: "POST", URL: api, JKT: key.Thumbprint()},
		{Proof: proof, Method: "POST", URL: api, AccessToken: "tok"},
		{Proof: proof, Method: "POST", URL: api},
		{Proof: proof, Method: "POST", URL: api, AccessToken: "tok", NoAccessToken: true, JKT: key.Thumbprint()},
		{Proof: proof, Method: "POST", URL: api, AccessToken: "tok", JKT: key.Thumbprint(), AnyKey: true},
	} {
		now := t0
		if _, err := newVerifier(t, &now).Verify(t.Context(), r); !errors.Is(err, ErrUnstatedBinding) {
			t.Errorf("%+v: err = %v, want ErrUnstatedBinding", r, err)
		}
	}
}
