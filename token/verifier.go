package token

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// KeySource returns the public key for a kid. Implementations look the kid
// up in keys they trust (a pinned set, the issuer's JWKS); an unknown kid
// is an error wrapping protocol.ErrUnknownKey.
type KeySource interface {
	PublicKey(ctx context.Context, kid string) (*jose.JSONWebKey, error)
}

// Verifier checks access tokens. It is safe for concurrent use.
type Verifier struct {
	issuer      string
	audience    string
	anyAudience bool
	keys        KeySource
	algs        []jose.SignatureAlgorithm
	leeway      time.Duration
	now         func() time.Time
}

// VerifierOption configures NewVerifier.
type VerifierOption func(*Verifier) error

// WithAlgs narrows the algorithm allow-list (default ES256, EdDSA, RS256).
func WithAlgs(algs ...keys.Alg) VerifierOption {
	return func(v *Verifier) (err error) {
		v.algs, err = keys.JOSEAlgs(algs)
		return err
	}
}

// WithLeeway sets the clock-skew leeway for exp, nbf and iat (default 5 s,
// at most 60 s).
func WithLeeway(d time.Duration) VerifierOption {
	return func(v *Verifier) error {
		if d < 0 || d > protocol.MaxLeeway {
			return fmt.Errorf("token: leeway %s outside 0–60 s", d)
		}
		v.leeway = d
		return nil
	}
}

// WithClock injects time.
func WithClock(now func() time.Time) VerifierOption {
	return func(v *Verifier) error { v.now = now; return nil }
}

// AnyAudience accepts any aud. Only the IdP uses it, for its own tokens on
// endpoints that are not resources (step completion, introspection); every
// resource server verifies its own audience.
func AnyAudience() VerifierOption {
	return func(v *Verifier) error { v.anyAudience = true; return nil }
}

// NewVerifier makes a verifier for tokens of issuer addressed to audience.
// An empty audience is refused unless AnyAudience is given: empty never
// means "don't check".
func NewVerifier(issuer, audience string, ks KeySource, opts ...VerifierOption) (*Verifier, error) {
	v := &Verifier{issuer: strings.TrimSuffix(issuer, "/"), audience: audience, keys: ks, leeway: protocol.DefaultLeeway, now: time.Now}
	var err error
	if v.algs, err = keys.JOSEAlgs(keys.DefaultAlgs()); err != nil {
		return nil, err
	}
	for _, o := range opts {
		if err := o(v); err != nil {
			return nil, err
		}
	}
	switch {
	case v.issuer == "":
		return nil, errors.New("token: verifier needs an issuer")
	case ks == nil:
		return nil, errors.New("token: verifier needs a key source")
	case v.audience == "" && !v.anyAudience:
		return nil, errors.New("token: verifier needs an audience (or AnyAudience)")
	}
	return v, nil
}

// forbiddenHeaders would let a token choose its own key or make the
// verifier skip extensions it does not understand.
var forbiddenHeaders = []string{"jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "crit"}

// Verify checks raw and returns its claims.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	if len(raw) > protocol.MaxTokenSize {
		return nil, protocol.ErrTokenTooLarge.WithDescription("token larger than %d bytes", protocol.MaxTokenSize)
	}
	if strings.Count(raw, ".") != 2 {
		return nil, protocol.ErrMalformedToken.WithDescription("not a compact JWS")
	}
	jws, err := jose.ParseSignedCompact(raw, v.algs)
	if err != nil {
		return nil, parseError(raw, err)
	}
	key, err := v.checkHeader(ctx, raw, jws)
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, protocol.ErrBadSignature.WithDescription("signature does not verify")
	}
	return v.checkClaims(payload)
}

// parseError tells an algorithm outside the allow-list from plain garbage.
func parseError(raw string, err error) error {
	h, herr := rawHeader(raw)
	if herr == nil {
		for _, name := range forbiddenHeaders {
			if _, ok := h[name]; ok {
				return protocol.ErrForbiddenHeader.WithDescription("header %q not allowed on access tokens", name)
			}
		}
		if alg, ok := h["alg"].(string); ok {
			if _, perr := keys.ParseAlg(alg); perr != nil {
				return protocol.ErrAlgNotAllowed.WithDescription("alg %q not allowed", trunc(alg))
			}
		}
	}
	return protocol.ErrMalformedToken.WithDescription("malformed token")
}

func rawHeader(raw string) (map[string]any, error) {
	seg, _, _ := strings.Cut(raw, ".")
	data, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, err
	}
	var h map[string]any
	return h, json.Unmarshal(data, &h)
}

func (v *Verifier) checkHeader(ctx context.Context, raw string, jws *jose.JSONWebSignature) (*jose.JSONWebKey, error) {
	h, err := rawHeader(raw)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, protocol.ErrMalformedToken.WithDescription("malformed header")
	}
	for _, name := range forbiddenHeaders {
		if _, ok := h[name]; ok {
			return nil, protocol.ErrForbiddenHeader.WithDescription("header %q not allowed on access tokens", name)
		}
	}
	if typ, _ := h["typ"].(string); !isAccessTokenType(typ) {
		return nil, protocol.ErrWrongType.WithDescription("typ must be at+jwt")
	}
	kid, _ := h["kid"].(string)
	if kid == "" || len(kid) > 256 {
		return nil, protocol.ErrUnknownKey.WithDescription("token has no usable kid")
	}
	key, err := v.keys.PublicKey(ctx, kid)
	if err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, protocol.ErrUnknownKey.Wrap(err)
	}
	alg := jws.Signatures[0].Header.Algorithm
	if !keyFitsAlg(key, alg) {
		return nil, protocol.ErrAlgNotAllowed.WithDescription("alg %s does not fit key %s", alg, kid)
	}
	return key, nil
}

// isAccessTokenType accepts "at+jwt" and its full media type (RFC 7515
// §4.1.9 allows omitting "application/"), case-insensitively.
func isAccessTokenType(typ string) bool {
	t := strings.ToLower(typ)
	return t == protocol.TypeAccessToken || t == "application/"+protocol.TypeAccessToken
}

func keyFitsAlg(k *jose.JSONWebKey, alg string) bool {
	switch k.Key.(type) {
	case ed25519.PublicKey:
		return alg == string(keys.EdDSA)
	case *ecdsa.PublicKey:
		return alg == string(keys.ES256)
	case *rsa.PublicKey:
		return alg == string(keys.RS256)
	}
	return false
}

func (v *Verifier) checkClaims(payload []byte) (*Claims, error) {
	var c Claims
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&c); err != nil {
		return nil, protocol.ErrMalformedToken.WithDescription("claims: %v", err)
	}
	if err := v.checkRegistered(&c); err != nil {
		return nil, err
	}
	return &c, checkIntent(&c)
}

func (v *Verifier) checkRegistered(c *Claims) error {
	now := v.now().Unix()
	leeway := int64(v.leeway / time.Second)
	switch {
	case c.Issuer != v.issuer:
		return protocol.ErrWrongIssuer.WithDescription("token is from another issuer")
	case !v.anyAudience && !c.Audience.Contains(v.audience):
		return protocol.ErrWrongAudience.WithDescription("token is not addressed to %s", v.audience)
	case c.ExpiresAt == 0:
		return protocol.ErrMissingClaim.WithDescription("exp is required")
	case now >= c.ExpiresAt+leeway:
		return protocol.ErrExpired.WithDescription("token expired")
	case c.NotBefore != 0 && c.NotBefore > now+leeway:
		return protocol.ErrNotYetValid.WithDescription("token not valid yet")
	case c.IssuedAt == 0:
		return protocol.ErrMissingClaim.WithDescription("iat is required")
	case c.IssuedAt > now+leeway:
		return protocol.ErrIssuedInFuture.WithDescription("token issued in the future")
	case c.ID == "" || c.Subject == "":
		return protocol.ErrMissingClaim.WithDescription("jti and sub are required")
	}
	return nil
}

// checkIntent requires an intent token to be complete: key binding, the
// agent's registration and the intent's mandatory members. A token with
// none of cnf, agent_proof and intent is a legacy token.
func checkIntent(c *Claims) error {
	if c.Cnf == nil && c.AgentProof == nil && c.Intent == nil {
		return nil
	}
	switch {
	case !c.IsIntent():
		return protocol.ErrMissingClaim.WithDescription("intent tokens need cnf, agent_proof and intent together")
	case c.Cnf.JKT == "" || c.AgentProof.AgentChecksum == "":
		return protocol.ErrMissingClaim.WithDescription("cnf.jkt and agent_proof.agent_checksum are required")
	case c.Intent.ExecutedBy != c.Subject || len(c.Intent.DelegationChain) == 0:
		return protocol.ErrMissingClaim.WithDescription("intent.executed_by must be sub and the delegation chain non-empty")
	case (c.Intent.RunID == "") != (c.Intent.WorkflowStep == ""):
		return protocol.ErrMissingClaim.WithDescription("intent.run_id and intent.workflow_step go together")
	}
	return nil
}

// UnsafeParseClaims reads claims WITHOUT verifying anything: for display
// and tests only, never for decisions.
func UnsafeParseClaims(raw string) (*Claims, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, protocol.ErrMalformedToken
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, protocol.ErrMalformedToken.Wrap(err)
	}
	var c Claims
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, protocol.ErrMalformedToken.Wrap(err)
	}
	return &c, nil
}

func trunc(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// StaticKeys is a KeySource over a fixed JWK set (pinned keys, tests).
type StaticKeys struct {
	keys map[string]*jose.JSONWebKey
}

// NewStaticKeys accepts only public keys of allowed types with unique kids.
func NewStaticKeys(set jose.JSONWebKeySet) (*StaticKeys, error) {
	s := &StaticKeys{keys: make(map[string]*jose.JSONWebKey, len(set.Keys))}
	for i := range set.Keys {
		k := set.Keys[i]
		if k.KeyID == "" || !k.IsPublic() || s.keys[k.KeyID] != nil {
			return nil, fmt.Errorf("token: key %d: want public keys with unique kids", i)
		}
		if _, err := keys.AlgForKey(k.Key); err != nil {
			return nil, err
		}
		s.keys[k.KeyID] = &k
	}
	return s, nil
}

// PublicKey implements KeySource.
func (s *StaticKeys) PublicKey(_ context.Context, kid string) (*jose.JSONWebKey, error) {
	if k, ok := s.keys[kid]; ok {
		return k, nil
	}
	return nil, protocol.ErrUnknownKey.WithDescription("unknown kid")
}
