// Package forgery makes the forged tokens and DPoP proofs of the attack
// matrices: the enforcer's own (middleware) and the gateway doors' parity
// test (internal/authz), which must attack with the very same requests.
// Only tests import it.
package forgery

import (
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
)

// B64 is the base64url of v's JSON.
func B64(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }

// TokenParts decodes a compact JWS's header and claims.
func TokenParts(tok string) (header, claims map[string]any) {
	p := strings.Split(tok, ".")
	hb, _ := base64.RawURLEncoding.DecodeString(p[0])
	cb, _ := base64.RawURLEncoding.DecodeString(p[1])
	_ = json.Unmarshal(hb, &header)
	_ = json.Unmarshal(cb, &claims)
	return header, claims
}

// Reheader rebuilds a token with changed header members (nil deletes)
// and the original, now invalid, signature.
func Reheader(tok string, change map[string]any) string {
	h, _ := TokenParts(tok)
	for k, v := range change {
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	p := strings.Split(tok, ".")
	return B64(h) + "." + p[1] + "." + p[2]
}

// Reclaim rebuilds a token with changed claims and the original signature.
func Reclaim(tok string, mut func(map[string]any)) string {
	_, c := TokenParts(tok)
	mut(c)
	p := strings.Split(tok, ".")
	return p[0] + "." + B64(c) + "." + p[2]
}

// SignedBy signs the token's exact payload with another key and header.
func SignedBy(t testing.TB, tok string, key *keys.Signer, header map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	for k, v := range header {
		opts = opts.WithHeader(jose.HeaderKey(k), v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.Alg()), Key: key.CryptoSigner()}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := obj.CompactSerialize()
	return raw
}

// HS256WithPublicKey is the alg-confusion forgery: HS256 keyed with the
// IdP's public JWK.
func HS256WithPublicKey(t testing.TB, idp, tok string) string {
	t.Helper()
	res, err := http.Get(idp + "/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	_ = json.NewDecoder(res.Body).Decode(&set)
	res.Body.Close()
	pub, _ := json.Marshal(set.Keys[0])
	h, _ := TokenParts(tok)
	in := B64(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": h["kid"]}) + "." + strings.Split(tok, ".")[1]
	mac := hmac.New(sha256.New, pub)
	mac.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// TruncateSig drops signature bytes but keeps canonical base64url, so the
// token reaches the signature check.
func TruncateSig(tok string) string {
	p := strings.Split(tok, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(p[2])
	return p[0] + "." + p[1] + "." + base64.RawURLEncoding.EncodeToString(sig[:len(sig)-6])
}

// Tamper changes the signature's first character.
func Tamper(tok string) string {
	p := strings.Split(tok, ".")
	sig := []byte(p[2])
	if sig[0] == 'A' {
		sig[0] = 'B'
	} else {
		sig[0] = 'A'
	}
	return p[0] + "." + p[1] + "." + string(sig)
}

type noHash struct{}

func (noHash) HashFunc() crypto.Hash { return 0 }

// RawProof signs header and payload with key by hand.
func RawProof(t testing.TB, key *keys.Signer, header map[string]any, payload string) string {
	t.Helper()
	in := B64(header) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := key.CryptoSigner().Sign(nil, []byte(in), noHash{})
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// PublicJWK is key's public JWK as a proof header carries it.
func PublicJWK(key *keys.Signer) map[string]any {
	pub, _ := json.Marshal(key.Public())
	var jwk map[string]any
	_ = json.Unmarshal(pub, &jwk)
	for _, k := range []string{"kid", "alg", "use"} {
		delete(jwk, k)
	}
	return jwk
}

func now() string { return strconv.FormatInt(time.Now().Unix(), 10) }

// DupHTU signs a proof whose payload names htu twice: first another
// site, then ours.
func DupHTU(t testing.TB, key *keys.Signer, uri, tok string) string {
	return RawProof(t, key, map[string]any{"typ": "dpop+jwt", "alg": "EdDSA", "jwk": PublicJWK(key)},
		`{"jti":"dup-`+now()+strconv.Itoa(int(time.Now().UnixNano()%1e6))+`","htm":"GET","htu":"https://evil.example/","htu":"`+uri+`","iat":`+now()+`,"ath":"`+dpop.AccessTokenHash(tok)+`"}`)
}

// ProofPayload is a GET proof's claims for uri and tok, fresh jti.
func ProofPayload(uri, tok string) string {
	b, _ := json.Marshal(map[string]any{"jti": strconv.FormatInt(time.Now().UnixNano(), 36), "htm": "GET", "htu": uri,
		"iat": time.Now().Unix(), "ath": dpop.AccessTokenHash(tok)})
	return string(b)
}

// PrivateJWKProof carries the private key in its jwk header.
func PrivateJWKProof(t testing.TB, key *keys.Signer, uri, tok string) string {
	priv, _ := json.Marshal(jose.JSONWebKey{Key: key.CryptoSigner()})
	var jwk map[string]any
	_ = json.Unmarshal(priv, &jwk)
	return RawProof(t, key, map[string]any{"typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk}, ProofPayload(uri, tok))
}

// HMACProof is a proof "signed" with HS256 and a symmetric jwk.
func HMACProof(uri, tok string) string {
	in := B64(map[string]any{"typ": "dpop+jwt", "alg": "HS256", "jwk": map[string]any{"kty": "oct", "k": "c2VjcmV0"}}) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(ProofPayload(uri, tok)))
	mac := hmac.New(sha256.New, []byte("secret"))
	mac.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// PathCase is a spelling of /repos/acme/web/secrets (a route of the patch
// step only, under the broader GET /repos/**) and the reason a planner's
// request with it is refused.
type PathCase struct{ Path, Reason string }

// SecretsPathCases: the spellings an upstream would route to
// /repos/acme/web/secrets, each refused (§8).
func SecretsPathCases() []PathCase {
	return []PathCase{
		{"/repos/acme/web/secrets", "wrong_step"},
		{"/repos/acme/web/%73ecrets", "wrong_step"},
		{"/repos/acme/web/%73%65%63%72%65%74%73", "wrong_step"},
		{"/repos/acme/web/secrets/", "wrong_step"},
		{"/repos/acme/%77eb/secrets", "wrong_step"},
		{"/repos/acme/web/x/%2e%2e/secrets", "non_canonical_path"},
		{"/repos/acme/web/x/%2E%2E/secrets", "non_canonical_path"},
		{"/repos/acme/web/x/../secrets", "non_canonical_path"},
		{"/repos/acme/web/./secrets", "non_canonical_path"},
		{"/repos/acme/web/.%2e/web/secrets", "non_canonical_path"},
		{"/repos/acme/web/secrets;x=1", "non_canonical_path"},
		{"/repos/acme/web;x=1/secrets", "non_canonical_path"},
		{"/repos/acme/web/secrets%3Bx=1", "non_canonical_path"},
		{"/repos/acme/web//secrets", "non_canonical_path"},
		{"/repos/acme/web/secrets//", "non_canonical_path"},
		{"/repos/acme%2Fweb/secrets", "non_canonical_path"},
		{"/repos/acme/web%2fsecrets", "non_canonical_path"},
		{"/repos/acme/web%5Csecrets", "non_canonical_path"},
		{"/repos/acme/web/secrets%00", "non_canonical_path"},
		{"/repos/acme/web/secrets%0a", "non_canonical_path"},
		{"/repos/acme/web/secrets%7F", "non_canonical_path"},
	}
}

// MatrixPolicy is the attack matrices' policy (ISSUER to be replaced):
// every kind of rule.
const MatrixPolicy = `
issuer: ISSUER
resource: https://forge.example
routes:
  - match: {method: POST, path: "/repos/{owner}/{repo}/pulls"}
    scopes: [repo:write]
    workflow: wf
    steps: [patch]
    agents: [patcher]
    context: {repo: "{owner}/{repo}"}
    one_time: true
  - match: {method: GET, path: "/repos/{owner}/{repo}/contents/**"}
    scopes: [repo:read]
    context: {repo: "{owner}/{repo}"}
  - match: {method: POST, path: "/repos/{owner}/{repo}/branches"}
    steps: [patch]
  - match: {method: PUT, path: "/repos/{owner}/{repo}/pulls/{n}/merge"}
    agents: [patcher]
  - match: {method: GET, path: "/repos/{owner}/{repo}/secrets"}
    steps: [patch]
    agents: [patcher]
  - match: {method: GET, path: "/repos/**"}
    scopes: [repo:read]
  - match: {method: GET, path: "/health"}
    public: true
  - match: {method: GET, path: "/legacy/**"}
    scopes: [repo:read]
    legacy: allow
default: deny
`
