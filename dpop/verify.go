package dpop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/internal/strictjson"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// ReplayCache remembers single-use identifiers.
type ReplayCache interface {
	// Use records id until exp and reports false if it was already
	// recorded (a replay). Implementations must be safe for concurrent use
	// and atomic: of two concurrent calls with one id, one sees fresh.
	Use(ctx context.Context, id string, exp time.Time) (fresh bool, err error)
}

// NonceChecker issues and checks server nonces (RFC 9449 §8).
type NonceChecker interface {
	New() string
	Valid(nonce string) bool
}

// Verifier checks proofs. It is safe for concurrent use.
type Verifier struct {
	cache  ReplayCache
	algs   []jose.SignatureAlgorithm
	window time.Duration
	now    func() time.Time
	nonces NonceChecker
}

// Option configures NewVerifier.
type Option func(*Verifier) error

// WithAlgs narrows the allow-list (default ES256, EdDSA, RS256).
func WithAlgs(algs ...keys.Alg) Option {
	return func(v *Verifier) (err error) {
		v.algs, err = keys.JOSEAlgs(algs)
		return err
	}
}

// WithIATWindow sets how far iat may be from now (default 60 s).
func WithIATWindow(d time.Duration) Option {
	return func(v *Verifier) error {
		if d <= 0 || d > 10*time.Minute {
			return fmt.Errorf("dpop: iat window %s outside (0, 10m]", d)
		}
		v.window = d
		return nil
	}
}

// WithClock injects time.
func WithClock(now func() time.Time) Option {
	return func(v *Verifier) error { v.now = now; return nil }
}

// WithNonce requires server nonces.
func WithNonce(n NonceChecker) Option {
	return func(v *Verifier) error { v.nonces = n; return nil }
}

// NewVerifier needs a replay cache: without one, replay is not checked.
func NewVerifier(cache ReplayCache, opts ...Option) (*Verifier, error) {
	if cache == nil {
		return nil, errors.New("dpop: a replay cache is required")
	}
	v := &Verifier{cache: cache, window: protocol.DefaultIATSkew, now: time.Now}
	var err error
	if v.algs, err = keys.JOSEAlgs(keys.DefaultAlgs()); err != nil {
		return nil, err
	}
	for _, o := range opts {
		if err := o(v); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Request is what a proof must match.
type Request struct {
	Proof       string // the DPoP header value
	Method      string
	URL         string // as the client addressed it: scheme://host[:port]/path[?query]
	AccessToken string // when set, ath must match
	JKT         string // when set, the proof key's thumbprint must equal it
}

// Proof is a verified proof.
type Proof struct {
	JTI, HTM, HTU, Nonce, ATH, JKT string
	IssuedAt                       time.Time
	Key                            *jose.JSONWebKey
}

const maxJTI = 256

// Verify checks a proof against a request; the order of checks is fixed
// and the replay cache is consulted last.
func (v *Verifier) Verify(ctx context.Context, r Request) (*Proof, error) {
	if r.Proof == "" {
		return nil, protocol.ErrMissingProof.WithDescription("DPoP proof required")
	}
	if len(r.Proof) > protocol.MaxTokenSize {
		return nil, protocol.ErrProofTooLarge.WithDescription("proof larger than %d bytes", protocol.MaxTokenSize)
	}
	header, payload, err := splitStrict(r.Proof)
	if err != nil {
		return nil, err
	}
	p, claims, err := v.checkSignature(r.Proof, header)
	if err != nil {
		return nil, err
	}
	if err := decodeClaims(payload, claims); err != nil {
		return nil, err
	}
	if err := v.checkRequest(p, claims, r); err != nil {
		return nil, err
	}
	return p, v.checkReplay(ctx, p)
}

// splitStrict decodes header and payload and refuses duplicate members or
// deep nesting before any JOSE library reads them.
func splitStrict(raw string) ([]byte, []byte, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || parts[2] == "" {
		return nil, nil, protocol.ErrMalformedProof.WithDescription("not a compact JWS")
	}
	header, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	payload, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	if err1 != nil || err2 != nil {
		return nil, nil, protocol.ErrMalformedProof.WithDescription("bad base64url")
	}
	for _, doc := range [][]byte{header, payload} {
		if err := strictjson.Check(doc, protocol.MaxJSONDepth); err != nil {
			return nil, nil, protocol.ErrMalformedProof.WithDescription("%v", err)
		}
	}
	return header, payload, nil
}

type proofHeader struct {
	Typ string          `json:"typ"`
	Alg string          `json:"alg"`
	JWK json.RawMessage `json:"jwk"`
}

func (v *Verifier) checkSignature(raw string, header []byte) (*Proof, *proofClaims, error) {
	var h map[string]json.RawMessage
	var ph proofHeader
	_ = json.Unmarshal(header, &h)
	if err := json.Unmarshal(header, &ph); err != nil {
		return nil, nil, protocol.ErrMalformedProof.WithDescription("malformed header")
	}
	if ph.Typ != protocol.TypeDPoPProof {
		return nil, nil, protocol.ErrProofType.WithDescription("typ must be dpop+jwt")
	}
	if _, err := keys.ParseAlg(ph.Alg); err != nil {
		return nil, nil, protocol.ErrProofAlg.WithDescription("alg %q not allowed", trunc(ph.Alg))
	}
	for _, k := range []string{"jku", "x5u", "x5c", "kid", "crit"} {
		if _, ok := h[k]; ok {
			return nil, nil, protocol.ErrMalformedProof.WithDescription("header %q not allowed in a proof; embed the public jwk", k)
		}
	}
	jwk, err := publicJWK(ph.JWK, ph.Alg)
	if err != nil {
		return nil, nil, err
	}
	jws, err := jose.ParseSignedCompact(raw, v.algs)
	if err != nil {
		return nil, nil, protocol.ErrProofAlg.WithDescription("alg not allowed")
	}
	if _, err := jws.Verify(jwk); err != nil {
		return nil, nil, protocol.ErrProofSignature.WithDescription("proof signature does not verify")
	}
	jkt, err := keys.Thumbprint(jwk)
	if err != nil {
		return nil, nil, protocol.ErrMalformedProof.Wrap(err)
	}
	return &Proof{Key: jwk, JKT: jkt}, &proofClaims{}, nil
}

// publicJWK requires an embedded public key of a type that fits alg.
func publicJWK(raw json.RawMessage, alg string) (*jose.JSONWebKey, error) {
	if len(raw) == 0 {
		return nil, protocol.ErrMalformedProof.WithDescription("header needs the public jwk")
	}
	jwk, err := keys.ParsePublicJWK(raw)
	if err != nil {
		if strings.Contains(err.Error(), "private member") {
			return nil, protocol.ErrProofPrivateKey.WithDescription("the jwk header holds a private key")
		}
		return nil, protocol.ErrMalformedProof.WithDescription("jwk: %v", err)
	}
	if a, _ := keys.AlgForKey(jwk.Key); string(a) != alg {
		return nil, protocol.ErrProofAlg.WithDescription("alg %s does not fit the jwk", alg)
	}
	return jwk, nil
}

func decodeClaims(payload []byte, c *proofClaims) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(c); err != nil {
		return protocol.ErrMalformedProof.WithDescription("claims: %v", err)
	}
	if c.JTI == "" || len(c.JTI) > maxJTI || c.HTM == "" || c.HTU == "" || c.IAT == 0 {
		return protocol.ErrMalformedProof.WithDescription("proof needs jti (≤ 256 chars), htm, htu and iat")
	}
	return nil
}

func (v *Verifier) checkRequest(p *Proof, c *proofClaims, r Request) error {
	p.JTI, p.HTM, p.HTU, p.Nonce, p.ATH, p.IssuedAt = c.JTI, c.HTM, c.HTU, c.Nonce, c.ATH, time.Unix(c.IAT, 0)
	if c.HTM != r.Method {
		return protocol.ErrWrongMethod.WithDescription("htm does not match the request method")
	}
	if err := checkHTU(c.HTU, r.URL); err != nil {
		return err
	}
	if d := v.now().Sub(p.IssuedAt); d > v.window || d < -v.window {
		return protocol.ErrStaleProof.WithDescription("proof iat outside ±%s", v.window)
	}
	if v.nonces != nil && !v.nonces.Valid(c.Nonce) {
		return protocol.ErrNonceRequired.WithDescription("use the server's DPoP-Nonce")
	}
	if r.AccessToken != "" && !equal(c.ATH, AccessTokenHash(r.AccessToken)) {
		return protocol.ErrAthMismatch.WithDescription("ath does not match the access token")
	}
	if r.JKT != "" && !equal(p.JKT, r.JKT) {
		return protocol.ErrKeyMismatch.WithDescription("proof key is not the key the token is bound to")
	}
	return nil
}

func checkHTU(htu, requestURL string) error {
	if strings.ContainsAny(htu, "?#") {
		return protocol.ErrWrongURI.WithDescription("htu must not carry a query or fragment")
	}
	want, err := NormalizeHTU(requestURL)
	if err != nil {
		return protocol.ErrWrongURI.Wrap(err)
	}
	got, err := NormalizeHTU(htu)
	if err != nil || got != want {
		return protocol.ErrWrongURI.WithDescription("htu does not match the request URI")
	}
	return nil
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// checkReplay keys the cache on the key thumbprint and jti, so one client
// can never burn another's jti.
func (v *Verifier) checkReplay(ctx context.Context, p *Proof) error {
	h := sha256.Sum256([]byte(p.JKT + "\x00" + p.JTI))
	fresh, err := v.cache.Use(ctx, "dpop:"+hex.EncodeToString(h[:]), p.IssuedAt.Add(v.window))
	if err != nil {
		return fmt.Errorf("dpop: replay cache: %w", err)
	}
	if !fresh {
		return protocol.ErrReplayedProof.WithDescription("proof already used")
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
