package authz_test

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

// The forgeries of the proxy's attack matrix (middleware), made again
// here: that matrix lives in another package's tests.

func b64(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }

func tokenParts(tok string) (header, claims map[string]any) {
	p := strings.Split(tok, ".")
	hb, _ := base64.RawURLEncoding.DecodeString(p[0])
	cb, _ := base64.RawURLEncoding.DecodeString(p[1])
	_ = json.Unmarshal(hb, &header)
	_ = json.Unmarshal(cb, &claims)
	return header, claims
}

// reheader rebuilds a token with changed header members (nil deletes)
// and the original, now invalid, signature.
func reheader(tok string, change map[string]any) string {
	h, _ := tokenParts(tok)
	for k, v := range change {
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	p := strings.Split(tok, ".")
	return b64(h) + "." + p[1] + "." + p[2]
}

// reclaim rebuilds a token with changed claims and the original signature.
func reclaim(tok string, mut func(map[string]any)) string {
	_, c := tokenParts(tok)
	mut(c)
	p := strings.Split(tok, ".")
	return p[0] + "." + b64(c) + "." + p[2]
}

// signedBy signs the token's exact payload with another key and header.
func signedBy(t *testing.T, tok string, key *keys.Signer, header map[string]any) string {
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

// hs256WithPublicKey is the alg-confusion forgery: HS256 keyed with the
// IdP's public JWK.
func hs256WithPublicKey(t *testing.T, idp, tok string) string {
	res, err := http.Get(idp + "/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	_ = json.NewDecoder(res.Body).Decode(&set)
	res.Body.Close()
	pub, _ := json.Marshal(set.Keys[0])
	h, _ := tokenParts(tok)
	in := b64(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": h["kid"]}) + "." + strings.Split(tok, ".")[1]
	mac := hmac.New(sha256.New, pub)
	mac.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// truncateSig drops signature bytes but keeps canonical base64url.
func truncateSig(tok string) string {
	p := strings.Split(tok, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(p[2])
	return p[0] + "." + p[1] + "." + base64.RawURLEncoding.EncodeToString(sig[:len(sig)-6])
}

func tamper(tok string) string {
	p := strings.Split(tok, ".")
	sig := []byte(p[2])
	if sig[0] == 'A' {
		sig[0] = 'B'
	} else {
		sig[0] = 'A'
	}
	return p[0] + "." + p[1] + "." + string(sig)
}

func mkProof(t *testing.T, key *keys.Signer, method, uri, tok string, opts ...func(*dpop.ProofOptions)) string {
	t.Helper()
	po := dpop.ProofOptions{AccessToken: tok}
	for _, o := range opts {
		o(&po)
	}
	p, err := dpop.NewProof(key, method, uri, po)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func at(when time.Time) func(*dpop.ProofOptions) { return func(o *dpop.ProofOptions) { o.Now = when } }

type noHash struct{}

func (noHash) HashFunc() crypto.Hash { return 0 }

func rawProof(t *testing.T, key *keys.Signer, header map[string]any, payload string) string {
	in := b64(header) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := key.CryptoSigner().Sign(nil, []byte(in), noHash{})
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func publicJWK(key *keys.Signer) map[string]any {
	pub, _ := json.Marshal(key.Public())
	var jwk map[string]any
	_ = json.Unmarshal(pub, &jwk)
	for _, k := range []string{"kid", "alg", "use"} {
		delete(jwk, k)
	}
	return jwk
}

func now() string { return strconv.FormatInt(time.Now().Unix(), 10) }

// dupHTU names htu twice: first another site, then ours.
func dupHTU(t *testing.T, key *keys.Signer, uri, tok string) string {
	return rawProof(t, key, map[string]any{"typ": "dpop+jwt", "alg": "EdDSA", "jwk": publicJWK(key)},
		`{"jti":"dup-`+now()+strconv.Itoa(int(time.Now().UnixNano()%1e6))+`","htm":"GET","htu":"https://evil.example/","htu":"`+uri+`","iat":`+now()+`,"ath":"`+dpop.AccessTokenHash(tok)+`"}`)
}

func proofPayload(uri, tok string) string {
	b, _ := json.Marshal(map[string]any{"jti": strconv.FormatInt(time.Now().UnixNano(), 36), "htm": "GET", "htu": uri,
		"iat": time.Now().Unix(), "ath": dpop.AccessTokenHash(tok)})
	return string(b)
}

func privateJWKProof(t *testing.T, key *keys.Signer, uri, tok string) string {
	priv, _ := json.Marshal(jose.JSONWebKey{Key: key.CryptoSigner()})
	var jwk map[string]any
	_ = json.Unmarshal(priv, &jwk)
	return rawProof(t, key, map[string]any{"typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk}, proofPayload(uri, tok))
}

func hmacProof(uri, tok string) string {
	in := b64(map[string]any{"typ": "dpop+jwt", "alg": "HS256", "jwk": map[string]any{"kty": "oct", "k": "c2VjcmV0"}}) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(proofPayload(uri, tok)))
	mac := hmac.New(sha256.New, []byte("secret"))
	mac.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
